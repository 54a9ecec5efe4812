"""The local API's OpenAPI 3.1 document, made from the operations themselves (so it cannot drift from what is
served), the per-operation body limits, and the rule for part files named over the API.

The document is kept in the repository as ``docs/openapi.json``; a test checks the served one equals it.
Write it again after changing an operation: ``python -m app.core.api.openapi docs/openapi.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from app import __version__
from app.core.api.operations import OPS, Op, Params
from app.core.api.operations_agents import AGENT_OPS
from app.core.api.operations_market import MARKET_OPS
from app.core.api.operations_read import LOGIN, READ_OPS
from app.core.auth.permissions import Action, Role
from app.core.domain.errors import ValidationError

OPENAPI_PATH = "/openapi.json"
DEFAULT_BODY_BYTES = 1_000_000
BIG_BODY_BYTES = 24_000_000  # a job spec or a batch may be large; the job service bounds its content
_BIG = {"jobs.submit", "jobs.batch", "market.publish"}  # and many offers at once


def all_ops() -> list[Op]:
    return [*OPS.values(), *MARKET_OPS, *READ_OPS, *AGENT_OPS, LOGIN]


def body_limit(op: Op) -> int:
    return BIG_BODY_BYTES if op.name in _BIG else DEFAULT_BODY_BYTES


def confine_part_files(params: Params, root: Path) -> None:
    """Part files named by a program over the API must be inside the site's ``parts/`` folder: a name that
    climbs out of it (``../``, an absolute path, a link) is refused, so the API cannot be used to read other
    files of the site's machine. The CLI on the site's own account sends absolute paths and is not held to it."""
    specs = params.get("specs") if "specs" in params else [params.get("spec")]
    if not isinstance(specs, list):
        return
    base = root.resolve()
    for s in specs:
        parts = s.get("parts") if isinstance(s, dict) else None
        for i, part in enumerate(parts if isinstance(parts, list) else []):
            if not isinstance(part, dict):
                continue
            for key in ("file", "file_path"):
                name = part.get(key)
                if name is None:
                    continue
                if not isinstance(name, str) or "\x00" in name:
                    raise ValidationError(f"parts[{i}].{key} must be a file name", f"parts[{i}].{key}")
                path = (base / name).resolve()
                if not path.is_relative_to(base):
                    raise ValidationError(f"parts[{i}].{key} {name[:60]!r} is outside the site's parts folder "
                                          f"({root})", f"parts[{i}].{key}")
                part[key] = str(path)


_S = {"type": "string"}
_OBJ = {"type": "object"}
_BODIES: dict[str, dict[str, Any]] = {
    "jobs.submit": {"spec": {"type": "object", "description": "name, priority, due_at, parts: [...]"}},
    "jobs.batch": {"specs": {"type": "array", "items": _OBJ}},
    "jobs.priority": {"priority": {"type": "integer", "minimum": 1, "maximum": 10}},
    "jobs.offload": {"to": _S, "parts": {"type": "array", "items": {"type": "integer"}}},
    "nodes.add": {"name": _S, "capabilities": _OBJ, "address": _S, "driver": _S, "location": _S},
    "nodes.configure": {"capabilities": _OBJ, "loaded": _S, "location": _S},
    "nodes.maintenance": {"action": {"enum": ["schedule", "start", "done"]}, "when": _S, "type": _S, "notes": _S},
    "sites.add": {"site_id": _S, "address": _S, "name": _S},
    "market.publish": {"offers": {"type": "array", "items": _OBJ}, "to": {"type": "array", "items": _S}},
    "market.quote": {"job": _S},
    "market.rate": {"stars": {"type": "integer", "minimum": 1, "maximum": 5}, "note": _S},
    "market.comment": {"item": _S, "text": _S, "author": _S, "login": _S},
    "sites.accept": {"address": _S, "name": _S},
    "admin.users.add": {"name": _S, "password": _S, "role": {"enum": [r.value for r in Role]}},
    "admin.users.role": {"role": {"enum": [r.value for r in Role]}},
    "admin.keys.create": {"name": _S, "scopes": {"type": "array", "items": {"enum": [a.value for a in Action]}},
                          "days": {"type": "number"}, "user": _S},
    "auth.login": {"name": _S, "password": _S, "hours": {"type": "number"}},
}
_REQUIRED: dict[str, list[str]] = {
    "jobs.submit": ["spec"], "jobs.batch": ["specs"], "jobs.priority": ["priority"], "jobs.offload": ["to"],
    "nodes.add": ["name", "capabilities"], "nodes.maintenance": ["action"], "sites.add": ["site_id"],
    "market.publish": ["offers", "to"], "market.quote": ["job"], "market.rate": ["stars"],
    "market.comment": ["item", "text"],
    "admin.users.add": ["name", "password", "role"], "admin.users.role": ["role"],
    "admin.keys.create": ["name", "scopes"], "auth.login": ["name", "password"],
}
_QUERY: dict[str, list[str]] = {
    "jobs.list": ["state", "search", "limit"], "nodes.list": ["state"], "telemetry.alerts": ["open", "limit"],
    "admin.audit": ["limit", "target", "action", "actor"],
}
_JOB = ("id, name, state (the enum: IN_PROGRESS, ...), priority, submitted_at, due_at, completed_at, progress, "
        "estimated_duration_s, estimated_energy_kwh, parts [{id, name, process, material, size_mm, quantity, state, "
        "assigned_node, progress}], waiting_for: the names of the machines the job waits for (its parts in progress "
        "paused between copies while their machine runs another job's part), empty when it does not wait")
_RESULTS = {"jobs.list": f"the jobs, each {_JOB}", "jobs.show": f"the job: {_JOB}"}
_ERRORS = {"400": "bad input", "401": "no, wrong, expired or revoked token", "403": "the role or key may not",
           "404": "not found", "409": "refused by the rules", "413": "body too large"}


def _operation(op: Op) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationId": op.name, "summary": f"{op.name} (permission: {op.action.value})",
        "x-permission": op.action.value,
        "responses": {"200": {"description": _RESULTS.get(op.name, "the result as JSON")},
                      **{code: {"description": why, "content": {"application/json": {"schema": {
                          "$ref": "#/components/schemas/Error"}}}} for code, why in _ERRORS.items()}},
    }
    params = [{"name": k, "in": "path", "required": True, "schema": _S} for k in op.path_params]
    params += [{"name": k, "in": "query", "required": False, "schema": _S} for k in _QUERY.get(op.name, [])]
    if params:
        out["parameters"] = params
    if op.method != "GET":
        schema = {"type": "object", "properties": _BODIES.get(op.name, {})}
        if op.name in _REQUIRED:
            schema["required"] = _REQUIRED[op.name]
        out["requestBody"] = {"required": op.name in _REQUIRED,
                              "content": {"application/json": {"schema": schema}}}
    if op is LOGIN:
        out["security"] = []
    return out


def openapi_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for op in all_ops():
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    paths["/events"] = {"get": {"operationId": "events", "summary": "websocket of job, node and alert events "
                                                                     "(permission: read)",
                                "responses": {"101": {"description": "switching to websocket"},
                                              "401": {"description": "no or wrong token"}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Imewe local API", "version": __version__,
                 "description": "Served by the site process on 127.0.0.1. Authorization: Bearer with a session "
                                "token (POST /auth/login, or imewe login) or an API key (imewe apikeys create)."},
        "servers": [{"url": "http://127.0.0.1"}],
        "security": [{"bearer": []}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "schemas": {"Error": {"type": "object", "required": ["error", "kind"],
                                             "properties": {"error": _S, "kind": _S}}}},
        "paths": dict(sorted(paths.items())),
    }


def dumps() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    Path(sys.argv[1] if len(sys.argv) > 1 else "docs/openapi.json").write_text(dumps(), encoding="utf-8")
