#!/usr/bin/env bash
# Build the one-folder PyInstaller bundle of Imewe and the Debian package made from it (issue 17).
#   installer/build-package.sh [PYTHON]     (PYTHON: an interpreter with Imewe and its [package] extra; default .venv)
# Output in build/package/: dist/imewe/ (the bundle), imewe_<version>_<arch>.deb, figures.json (times, sizes).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
OUT=build/package
ROOT_DIR=$OUT/root
say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

"$PY" -c "import PyInstaller" 2>/dev/null || {
  echo "PyInstaller is not installed for $PY (pip install -e '.[package]')" >&2; exit 1; }
VERSION=$("$PY" -c "import app; print(app.__version__)")
ARCH=$(dpkg --print-architecture)
DEB="$OUT/imewe_${VERSION}_${ARCH}.deb"

say "bundling Imewe $VERSION with PyInstaller (one folder)"
t0=$(date +%s%N)
"$PY" -m PyInstaller --noconfirm --log-level WARN --distpath "$OUT/dist" --workpath "$OUT/work" \
  installer/pyinstaller/imewe.spec
t1=$(date +%s%N)

say "laying out the package root"
rm -rf "$ROOT_DIR" "$DEB"
install -d "$ROOT_DIR/DEBIAN" "$ROOT_DIR/opt" "$ROOT_DIR/usr/bin" "$ROOT_DIR/usr/share/applications" \
  "$ROOT_DIR/usr/share/mime/packages" "$ROOT_DIR/usr/share/icons/hicolor/scalable/apps" \
  "$ROOT_DIR/lib/systemd/system" "$ROOT_DIR/usr/lib/systemd/user"
cp -a "$OUT/dist/imewe" "$ROOT_DIR/opt/imewe"
ln -s ../../opt/imewe/imewe "$ROOT_DIR/usr/bin/imewe"  # relative: also right inside a `dpkg -x` folder
install -m 644 installer/linux/imewe.desktop "$ROOT_DIR/usr/share/applications/imewe.desktop"
install -m 644 installer/linux/imewe-gcode.xml "$ROOT_DIR/usr/share/mime/packages/imewe-gcode.xml"
install -m 644 resources/icons/imewe.svg "$ROOT_DIR/usr/share/icons/hicolor/scalable/apps/imewe.svg"
install -m 644 installer/systemd/system/*.service "$ROOT_DIR/lib/systemd/system/"
install -m 644 installer/systemd/user/*.service "$ROOT_DIR/usr/lib/systemd/user/"
install -m 755 installer/debian/postinst installer/debian/postrm "$ROOT_DIR/DEBIAN/"
SIZE_KB=$(du -sk --exclude=DEBIAN "$ROOT_DIR" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE_KB@/$SIZE_KB/" installer/debian/control.in \
  > "$ROOT_DIR/DEBIAN/control"

say "building $DEB with dpkg-deb"
t2=$(date +%s%N)
dpkg-deb --root-owner-group -Zzstd -z3 --build "$ROOT_DIR" "$DEB" >/dev/null
t3=$(date +%s%N)
rm -rf "$ROOT_DIR"

BUNDLE_KB=$(du -sk "$OUT/dist/imewe" | cut -f1)
DEB_BYTES=$(stat -c %s "$DEB")
cat > "$OUT/figures.json" <<JSON
{"version": "$VERSION", "deb": "$(basename "$DEB")", "bundle_kib": $BUNDLE_KB, "deb_bytes": $DEB_BYTES,
 "pyinstaller_s": $(((t1 - t0) / 1000000)).0e-3, "dpkg_deb_s": $(((t3 - t2) / 1000000)).0e-3,
 "load_1min": $(cut -d' ' -f1 /proc/loadavg), "cores": $(nproc)}
JSON
say "bundle $((BUNDLE_KB / 1024)) MiB, package $((DEB_BYTES / 1048576)) MiB: $DEB"
