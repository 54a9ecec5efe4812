"""Site IDs: the SHA-256 of a site's DER certificate, written for people.

The 32 digest bytes are base32-encoded (52 letters and digits 2-7, no look-alikes like 0/1/8), cut into four
blocks of 13, each followed by a Luhn mod 32 check character (so a mistyped character is caught), and shown in
eight groups of seven: ``ABCDEFG-HIJKLMN-...``. Parsing accepts any case, spaces or dashes, the 52-letter form
without checks, and the usual misreadings 0→O, 1→I, 8→B.
"""

from __future__ import annotations

import base64
import hashlib

from app.core.sites.errors import BadSiteId

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
_MISREAD = str.maketrans({"0": "O", "1": "I", "8": "B"})
BLOCK = 13
GROUP = 7


def fingerprint(cert_der: bytes) -> bytes:
    return hashlib.sha256(cert_der).digest()


def site_id_for_cert(cert_der: bytes) -> str:
    return format_site_id(fingerprint(cert_der))


def luhn32(block: str) -> str:
    """Luhn mod N over the base32 alphabet: doubles every second value counting from the right."""
    total = 0
    double = True
    for ch in reversed(block):
        v = _VALUE[ch] * (2 if double else 1)
        total += v // 32 + v % 32
        double = not double
    return ALPHABET[(32 - total % 32) % 32]


def format_site_id(digest: bytes) -> str:
    if len(digest) != 32:
        raise BadSiteId("a site ID is made from a 32-byte SHA-256 digest")
    raw = base64.b32encode(digest).decode("ascii").rstrip("=")
    checked = "".join(raw[i:i + BLOCK] + luhn32(raw[i:i + BLOCK]) for i in range(0, len(raw), BLOCK))
    return "-".join(checked[i:i + GROUP] for i in range(0, len(checked), GROUP))


def parse_site_id(text: str) -> str:
    """Any way an admin may type or paste an ID → its canonical form; a clear error when it is not one."""
    if not isinstance(text, str):
        raise BadSiteId("a site ID is text")
    clean = "".join(text.split()).replace("-", "").upper().translate(_MISREAD)
    if not clean:
        raise BadSiteId("the site ID is empty")
    bad = sorted({c for c in clean if c not in _VALUE})
    if bad:
        raise BadSiteId(f"a site ID has only the letters A-Z and digits 2-7, not {''.join(bad)[:10]!r}")
    if len(clean) == 4 * (BLOCK + 1):
        blocks = [clean[i:i + BLOCK + 1] for i in range(0, len(clean), BLOCK + 1)]
        for n, b in enumerate(blocks, 1):
            if luhn32(b[:BLOCK]) != b[BLOCK]:
                raise BadSiteId(f"the site ID has a typo in its part {n} of 4 (check character does not match)")
        clean = "".join(b[:BLOCK] for b in blocks)
    elif len(clean) != 4 * BLOCK:
        raise BadSiteId(f"a site ID has 56 characters (without dashes), this one has {len(clean)}")
    try:
        digest = base64.b32decode(clean + "====")
    except ValueError as exc:  # binascii.Error: trailing bits that no digest can give
        raise BadSiteId("that is not a valid site ID") from exc
    if format_site_id(digest).replace("-", "")[: 4 * (BLOCK + 1)] != _with_checks(clean):
        raise BadSiteId("that is not a valid site ID")
    return format_site_id(digest)


def _with_checks(raw: str) -> str:
    return "".join(raw[i:i + BLOCK] + luhn32(raw[i:i + BLOCK]) for i in range(0, len(raw), BLOCK))


def short_id(site_id: str) -> str:
    """The first group: enough for a person to tell linked sites apart in a list."""
    return site_id.split("-", 1)[0]
