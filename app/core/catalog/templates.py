"""Parametric templates: add an OpenSCAD file (stored, versioned), list, show, and make a mesh from parameters.

Making runs off the event loop (meshing and OpenSCAD are blocking work) and writes the STL into the home's
``files/`` folder; the job spec it hands back names that file, so the job service reads the size from the mesh.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

from app.core.catalog import versions
from app.core.catalog.builtin import BUILTINS
from app.core.catalog.openscad import MAX_SCAD_BYTES, render_scad, scad_params
from app.core.catalog.params import Param, check_params
from app.core.domain.errors import ValidationError
from app.core.jobs.validation import check_name
from app.core.store.db import Store

KIND = "templates"


def files_dir(home: Path) -> Path:
    return home / "files"


def scad_definition(path: Path) -> tuple[str, dict[str, Any]]:
    """(name, definition) of an OpenSCAD file; the name is the file's stem."""
    if path.suffix.lower() != ".scad":
        raise ValidationError(f"{path.name}: a template file is an OpenSCAD .scad file")
    try:
        if path.stat().st_size > MAX_SCAD_BYTES:
            raise ValidationError(f"{path.name} is larger than {MAX_SCAD_BYTES // 1000} kB")
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read {path}: {exc}") from exc
    name = check_name(path.stem, "template name", "name")
    if name in BUILTINS:
        raise ValidationError(f"{name!r} is a built-in template; rename the file")
    params = scad_params(source)
    return name, {"kind": "openscad", "source": source, "params": [p.to_dict() for p in params]}


async def add_scad(store: Store, path: Path, description: str = "") -> dict[str, Any]:
    name, definition = scad_definition(path)

    def write(conn: Any) -> dict[str, Any]:
        return versions.save(conn, KIND, name, description, definition)

    return await store.run(_in_tx(store, write))


def _in_tx(store: Store, fn: Any) -> Any:
    def run() -> Any:
        with store.begin() as conn:
            return fn(conn)
    return run


async def list_templates(store: Store) -> list[dict[str, Any]]:
    stored = await store.run(_in_tx(store, lambda c: versions.latest_all(c, KIND)))
    out = [{"name": b.name, "kind": "built-in", "version": None, "description": b.description,
            "params": [p.to_dict() for p in b.params]} for b in BUILTINS.values()]
    out += [{"name": t["name"], "kind": t["definition"]["kind"], "version": t["version"],
             "description": t["description"], "params": t["definition"]["params"]} for t in stored]
    return out


async def get_template(store: Store, name: str, version: int | None = None) -> dict[str, Any]:
    if name in BUILTINS and not version:
        b = BUILTINS[name]
        return {"name": name, "kind": "built-in", "version": None, "description": b.description,
                "params": [p.to_dict() for p in b.params]}
    t = await store.run(_in_tx(store, lambda c: versions.get(c, KIND, name, version)))
    return {"name": t["name"], "kind": t["definition"]["kind"], "version": t["version"],
            "description": t["description"], "params": t["definition"]["params"],
            "source": t["definition"].get("source", "")}


def _make_sync(template: dict[str, Any], values: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    import trimesh

    out_dir.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(json.dumps([template["name"], template["version"], values], sort_keys=True,
                                    default=str).encode()).hexdigest()[:12]
    out = out_dir / f"{template['name']}-{key}.stl"
    if template["kind"] == "built-in":
        mesh = BUILTINS[template["name"]].build(values)
        mesh.export(out)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            scad = Path(tmp) / f"{template['name']}.scad"
            scad.write_text(template["source"], encoding="utf-8")
            render_scad(scad, values, out)
        mesh = trimesh.load_mesh(out)
    ext = mesh.extents
    return {"file": str(out), "volume_mm3": float(mesh.volume), "size_mm": [round(float(e), 4) for e in ext],
            "watertight": bool(mesh.is_watertight)}


async def make(store: Store, home: Path, name: str, given: dict[str, Any], version: int | None = None,
               out_dir: Path | None = None) -> dict[str, Any]:
    """Check the parameters, make the mesh (in the home's files/, or ``out_dir``), and return it with a job spec
    ready to submit."""
    template = await get_template(store, name, version)
    params = [Param.from_dict(p) for p in template["params"]]
    values = check_params(params, given, f"template {name}")
    made = await asyncio.get_running_loop().run_in_executor(None, _make_sync, template, values,
                                                              out_dir or files_dir(home))
    label = " ".join(f"{k}:{v:g}" if isinstance(v, float) else f"{k}:{v}" for k, v in values.items()
                     if k not in ("process", "material", "quantity"))
    spec = {"name": f"{name} {label}"[:200].strip(), "priority": 5,
            "metadata": {"template": name, "template_version": template["version"], "parameters": values},
            "parts": [{"name": name, "process": values["process"], "material": values["material"],
                       "quantity": values["quantity"], "file": made["file"]}]}
    return {"template": name, "version": template["version"], "values": values, **made, "job_spec": spec}
