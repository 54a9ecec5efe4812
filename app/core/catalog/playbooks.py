"""Playbooks: reusable multi-step recipes stored as data (JSON or TOML, never code).

A playbook has parameters (the same kinds as templates) and steps. Each step runs on one process (print on
fdm/sla/..., wash and cure on post_processing, machine on cnc_mill, inspect on inspection), waits for the steps
named in ``after`` (the step before when omitted), and may carry a ``check`` the step must pass. Running it submits
one job whose parts are the steps with their dependencies, so the scheduler orders them. Production starts a part
only when all it waits for has COMPLETED, so a failed step (an inspection that does not pass) holds every step after
it; after production's retries the part and the job are FAILED and nothing after it runs.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

from app.core.catalog import versions
from app.core.catalog.params import KINDS, Param, check_params
from app.core.catalog.templates import _in_tx, make
from app.core.domain.enums import ProcessType
from app.core.domain.errors import ValidationError
from app.core.jobs.validation import check_name
from app.core.store.db import Store

KIND = "playbooks"
MAX_FILE_BYTES = 1_000_000
MAX_STEPS = 100
ALIASES = {"wash": "post_processing", "cure": "post_processing", "wash_and_cure": "post_processing",
           "machine": "cnc_mill", "inspect": "inspection"}
STEP_KEYS = {"name", "process", "material", "size", "template", "template_params", "after", "check", "quantity",
             "duration_s"}
_REF = re.compile(r"\{(\w+)\}")


def read_playbook(path: Path) -> dict[str, Any]:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ValidationError(f"{path.name} is larger than {MAX_FILE_BYTES // 1000} kB")
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read {path}: {exc}") from exc
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{path.name} is not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {exc}") \
            from exc
    check_playbook(data)
    return data


def check_playbook(data: Any) -> dict[str, Any]:
    """The playbook in its stored form, every rule checked with a one-line error."""
    if not isinstance(data, dict):
        raise ValidationError("a playbook is an object with name, parameters and steps")
    unknown = set(data) - {"name", "description", "parameters", "steps", "priority"}
    if unknown:
        raise ValidationError(f"playbook: unknown key {sorted(unknown)[0]!r} (known: name, description, "
                              "parameters, steps, priority)")
    name = check_name(data.get("name"), "playbook name", "name")
    raw_params = data.get("parameters") or {}
    if not isinstance(raw_params, dict):
        raise ValidationError(f"playbook {name}: parameters must be an object of name: {{kind, default, ...}}")
    params = [_param(k, v) for k, v in raw_params.items()]
    steps_raw = data.get("steps")
    if not isinstance(steps_raw, list) or not steps_raw or len(steps_raw) > MAX_STEPS:
        raise ValidationError(f"playbook {name}: steps must be a list of 1 to {MAX_STEPS} steps")
    steps: list[dict[str, Any]] = []
    for i, s in enumerate(steps_raw):
        if not isinstance(s, dict):
            raise ValidationError(f"playbook {name}: step {i + 1} must be an object")
        bad = set(s) - STEP_KEYS
        if bad:
            raise ValidationError(f"playbook {name}: step {i + 1} has unknown key {sorted(bad)[0]!r} "
                                  f"(known: {', '.join(sorted(STEP_KEYS))})")
        step = dict(s)
        step["name"] = check_name(s.get("name", f"step {i + 1}"), f"step {i + 1} name", "steps")
        proc = ALIASES.get(str(s.get("process", "")).lower(), str(s.get("process", "")).lower())
        if proc not in {p.value for p in ProcessType} and not _REF.fullmatch(proc):
            raise ValidationError(f"playbook {name}: step {step['name']!r}: unknown process {proc!r}; known: "
                                  f"{', '.join(p.value for p in ProcessType)} (or {', '.join(ALIASES)})")
        step["process"] = proc
        earlier = [x["name"] for x in steps]
        after = s.get("after", earlier[-1:])
        if isinstance(after, str):
            after = [after]
        if not isinstance(after, list) or any(a not in earlier for a in after):
            raise ValidationError(f"playbook {name}: step {step['name']!r} waits for {after!r}; it may wait only "
                                  f"for steps listed before it: {', '.join(earlier) or 'none'}")
        step["after"] = after
        steps.append(step)
    if len({s["name"] for s in steps}) != len(steps):
        raise ValidationError(f"playbook {name}: two steps have the same name")
    if "size" not in steps[0] and "template" not in steps[0]:
        raise ValidationError(f"playbook {name}: the first step needs a size or a template")
    return {"name": name, "description": str(data.get("description", "")), "priority": data.get("priority", 5),
            "parameters": [p.to_dict() for p in params], "steps": steps}


def _param(name: str, d: Any) -> Param:
    if not isinstance(d, dict) or d.get("kind") not in KINDS:
        raise ValidationError(f"playbook parameter {name}: give kind (one of {', '.join(KINDS)}), default, "
                              "and min/max or choices")
    return Param.from_dict({"name": name, **d})


async def add(store: Store, data: dict[str, Any]) -> dict[str, Any]:
    pb = check_playbook(data)
    body = {k: pb[k] for k in ("priority", "parameters", "steps")}
    return await store.run(_in_tx(store, lambda c: versions.save(c, KIND, pb["name"], pb["description"], body)))


async def list_playbooks(store: Store) -> list[dict[str, Any]]:
    return await store.run(_in_tx(store, lambda c: versions.latest_all(c, KIND)))


async def get(store: Store, name: str, version: int | None = None) -> dict[str, Any]:
    return await store.run(_in_tx(store, lambda c: versions.get(c, KIND, name, version)))


def _fill(value: Any, values: dict[str, Any]) -> Any:
    """``"{qty}"`` becomes the parameter's typed value; ``"M{d} bolt"`` gets it in the text."""
    if isinstance(value, str):
        whole = _REF.fullmatch(value)
        if whole:
            if whole.group(1) not in values:
                raise ValidationError(f"the playbook refers to an unknown parameter {{{whole.group(1)}}}")
            return values[whole.group(1)]
        return _REF.sub(lambda m: str(values.get(m.group(1), m.group(0))), value)
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    return value


async def job_spec(store: Store, home: Path, name: str, given: dict[str, Any],
                   version: int | None = None) -> dict[str, Any]:
    """The job a run submits: one part per step, dependencies by index, checks in the job's metadata."""
    pb = await get(store, name, version)
    body = pb["definition"]
    values = check_params([Param.from_dict(p) for p in body["parameters"]], given, f"playbook {name}")
    steps = _fill(body["steps"], values)
    index = {s["name"]: i for i, s in enumerate(steps)}
    parts: list[dict[str, Any]] = []
    size: Any = None
    material = ""
    for s in steps:
        part: dict[str, Any] = {"name": s["name"], "process": s["process"],
                                "quantity": s.get("quantity", 1), "depends_on": [index[a] for a in s["after"]],
                                "estimated_duration_s": s.get("duration_s", 0)}
        if "template" in s:
            made = await make(store, home, s["template"], dict(s.get("template_params") or {}))
            size, material = made["size_mm"], made["values"]["material"]
            part["file"] = made["file"]
        size = s.get("size", size)
        material = s.get("material", material)
        part |= {"size": size, "material": material}
        parts.append(part)
    checks = {s["name"]: s["check"] for s in steps if s.get("check")}
    return {"name": f"{name} v{pb['version']}", "priority": body.get("priority", 5), "parts": parts,
            "metadata": {"playbook": name, "playbook_version": pb["version"], "parameters": values,
                         "checks": checks}}
