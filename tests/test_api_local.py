"""The local API against a real running site on 127.0.0.1: every endpoint, its OpenAPI document, tokens and keys
(wrong, expired, revoked), body limits, malformed JSON, names that climb out of folders, the events websocket,
and a property-based fuzz of every operation in the OpenAPI document (no answer is a 5xx)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.api.openapi import dumps, openapi_document
from app.core.auth.permissions import Role

from .helpers import FDM, job_spec
from .people_site import PASSWORD, RunningSite

DOC = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSite]:
    s = RunningSite(tmp_path_factory.mktemp("api-site"))
    s.add_people()
    try:
        yield s
    finally:
        s.close()


def request(site: RunningSite, method: str, path: str, body: Any = None, token: str | None = None,
            raw: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    async def go() -> tuple[int, Any]:
        h = {"Authorization": f"Bearer {token if token is not None else site.tokens[Role.ADMIN]}"} | (headers or {})
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        async with aiohttp.ClientSession() as http, http.request(method, site.info.url + path, data=data,
                                                                 headers=h) as resp:
            text = await resp.text()
            try:
                return resp.status, json.loads(text)
            except json.JSONDecodeError:
                return resp.status, text

    return asyncio.run(go())


def test_the_served_openapi_document_is_the_one_in_the_repository(site: RunningSite) -> None:
    status, served = request(site, "GET", "/openapi.json", token="")
    assert status == 200 and served == json.loads(DOC.read_text(encoding="utf-8")) == openapi_document()
    assert DOC.read_text(encoding="utf-8") == dumps()


def test_every_read_endpoint_answers(site: RunningSite) -> None:
    job = site.call(site.core.jobs.submit(job_spec(parts=1, name="readme")))
    node = site.node
    for path in ("/jobs", "/jobs?state=VALIDATED,SCHEDULED&limit=5", f"/jobs/{job.id}", f"/jobs/{str(job.id)[:8]}",
                 "/nodes", f"/nodes/{node.id}", "/nodes/m1", "/plan", "/plan/power", "/telemetry/alerts?open=1",
                 "/energy/status", "/kernel/status", "/kernel/metrics", "/admin/health", "/admin/users",
                 "/admin/keys", "/admin/audit?limit=5&action=user.", "/admin/audit/verify", "/auth/whoami"):
        status, data = request(site, "GET", path)
        assert status == 200, (path, data)
    assert request(site, "GET", "/admin/audit/verify")[1]["ok"]
    status, data = request(site, "GET", "/jobs?state=NOPE")
    assert status == 400 and "unknown state" in data["error"]


def test_writes_through_the_api(site: RunningSite) -> None:
    status, job = request(site, "POST", "/jobs", {"spec": job_spec(parts=1, name="api")})
    assert status == 200 and job["name"] == "api"
    assert request(site, "POST", f"/jobs/{job['id']}/priority", {"priority": 9})[1]["priority"] == 9
    assert request(site, "POST", f"/jobs/{job['id']}/cancel", {})[1]["state"] == "CANCELLED"
    status, node = request(site, "POST", "/nodes", {"name": "api-m", "capabilities": FDM})
    assert status == 200 and node["state"] == "IDLE"
    assert request(site, "POST", "/nodes/api-m/decommission", {})[0] == 200
    assert request(site, "POST", "/scheduler/replan", {})[0] == 200
    status, user = request(site, "POST", "/admin/users", {"name": "ann", "password": PASSWORD, "role": "viewer"})
    assert status == 200 and user["role"] == "viewer"
    assert request(site, "POST", "/admin/users/ann/role", {"role": "designer"})[1]["role"] == "designer"
    assert request(site, "POST", "/admin/users/ann/disable", {})[1]["active"] is False
    assert request(site, "POST", "/admin/users/ann/enable", {})[1]["active"] is True
    assert request(site, "POST", "/admin/users/ann/unlock", {})[0] == 200
    status, login = request(site, "POST", "/auth/login", {"name": "ann", "password": PASSWORD}, token="")
    assert status == 200 and login["role"] == "designer"
    assert request(site, "GET", "/auth/whoami", token=login["token"])[1]["name"] == "ann"
    assert request(site, "POST", "/nodes/m1/estop", {}, token=login["token"])[0] == 403


def test_opening_a_file_in_the_window_needs_submit(site: RunningSite) -> None:
    """POST /window/open puts a file in front of whoever works at the window: a viewer (or a read-only key) is
    refused; a designer passes the check (this site shows no window, so it says so); the site's own OS user on the
    loopback channel (a double-click on a part file) needs no sign-in."""
    body = {"path": "/tmp/part.stl"}
    status, data = request(site, "POST", "/window/open", body, token=site.tokens[Role.VIEWER])
    assert status == 403 and "viewer may not submit" in data["error"], data
    status, data = request(site, "POST", "/window/open", body, token=site.tokens[Role.DESIGNER])
    assert status == 400 and "shows no window" in data["error"], data
    status, data = request(site, "POST", "/window/open", body, token=site.info.token)  # channel token, no session
    assert status == 400 and "shows no window" in data["error"], data
    status, data = request(site, "POST", "/window/open", body, token=site.info.token,  # the CLI signed in as a viewer
                           headers={"X-Imewe-Session": site.tokens[Role.VIEWER]})
    assert status == 400 and "shows no window" in data["error"], data
    status, data = request(site, "GET", "/jobs", token=site.info.token)
    assert status == 200  # the same OS user without a session still only reads
    status, data = request(site, "POST", "/jobs", {"spec": job_spec(parts=1)}, token=site.info.token)
    assert status == 401 and "sign in" in data["error"], data


def test_keys_wrong_expired_revoked(site: RunningSite) -> None:
    status, key = request(site, "POST", "/admin/keys", {"name": "robot", "scopes": ["read"], "days": 1,
                                                        "user": "operator"})
    assert status == 200 and key["key"].startswith("imk_")
    assert request(site, "GET", "/jobs", token=key["key"])[0] == 200
    status, data = request(site, "POST", "/nodes/m1/estop", {}, token=key["key"])
    assert status == 403 and "may not estop" in data["error"]  # the operator may; this key's scope does not
    assert request(site, "GET", "/jobs", token="imk_wrong")[0] == 401
    assert request(site, "GET", "/jobs", token="")[0] == 401
    assert request(site, "GET", "/jobs", token="ims1.e30.AAAA")[0] == 401
    assert request(site, "POST", f"/admin/keys/{key['id']}/revoke", {})[0] == 200
    status, data = request(site, "GET", "/jobs", token=key["key"])
    assert status == 401 and "revoked" in data["error"]
    token, _ = site.call(site.users.login("viewer", PASSWORD, session_s=1))
    assert request(site, "GET", "/jobs", token=token)[0] == 200
    time.sleep(1.1)
    status, data = request(site, "GET", "/jobs", token=token)
    assert status == 401 and "expired" in data["error"]


def test_bodies_bounded_and_checked(site: RunningSite) -> None:
    status, data = request(site, "POST", "/nodes", raw=b'{"name": "' + b"x" * 1_100_000 + b'"}')
    assert status == 413 and "at most" in data["error"]
    for raw in (b"{not json", b"[1, 2]", b'{"a": ' * 200 + b"1" + b"}" * 200, b"\xff\xfe"):
        status, data = request(site, "POST", "/jobs", raw=raw)
        assert status == 400 and data["kind"] == "ValidationError", (raw[:20], data)
    status, data = request(site, "POST", "/jobs/x/priority", {"priority": "high"})
    assert status in (400, 404)


def test_names_that_climb_out_are_refused(site: RunningSite) -> None:
    for name in ("../../etc/passwd", "/etc/passwd", "a/../../../etc/shadow"):
        spec = job_spec(parts=1)
        spec["parts"][0].pop("size")
        spec["parts"][0]["file"] = name
        status, data = request(site, "POST", "/jobs", {"spec": spec})
        assert status == 400 and "outside the site's parts folder" in data["error"], data
    for path in ("/nodes/..%2F..%2Fetc%2Fpasswd/pause", "/jobs/..%2F..%2Fetc", "/admin/users/..%2Froot/role"):
        status, _ = request(site, "POST" if path.endswith(("pause", "role")) else "GET", path, {"role": "admin"})
        assert status in (400, 404), path


def test_events_websocket_carries_job_events(site: RunningSite) -> None:
    async def go() -> list[dict]:
        got: list[dict] = []
        headers = {"Authorization": f"Bearer {site.tokens[Role.VIEWER]}"}
        async with aiohttp.ClientSession() as http, http.ws_connect(site.info.url + "/events",
                                                                    headers=headers) as ws:
            await asyncio.sleep(0.1)
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(
                site.core.jobs.submit(job_spec(parts=1, name="ws")), site.loop))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not any(m["type"] == "JobSubmitted" for m in got):
                msg = await ws.receive(timeout=10)
                got.append(json.loads(msg.data))
        return got

    events = asyncio.run(go())
    assert any(m["type"] == "JobSubmitted" for m in events)
    async def unauth() -> int:
        async with aiohttp.ClientSession() as http, http.get(site.info.url + "/events") as resp:
            return resp.status

    assert asyncio.run(unauth()) == 401


# ---------------------------------------------------------------- fuzz from the OpenAPI document
_json = st.recursive(st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False)
                     | st.text(max_size=30),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                                  max_size=4), max_leaves=12)
_OPS = [(path, method.upper(), op) for path, item in openapi_document()["paths"].items()
        for method, op in item.items() if path != "/events"]
_path_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=24)


def _body(op: dict) -> st.SearchStrategy:
    schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    props = schema.get("properties", {})
    return st.fixed_dictionaries({}, optional={k: _json for k in props}) | st.dictionaries(st.text(max_size=8), _json,
                                                                                          max_size=3)


@st.composite
def _calls(draw) -> tuple[str, str, Any]:
    from urllib.parse import quote

    path, method, op = draw(st.sampled_from(_OPS))
    for p in op.get("parameters", []):
        if p["in"] == "path":
            path = path.replace("{" + p["name"] + "}", quote(draw(_path_text), safe=""))
    if method == "GET":
        q = {p["name"]: draw(st.text(max_size=12)) for p in op.get("parameters", []) if p["in"] == "query"
             and draw(st.booleans())}
        from urllib.parse import urlencode

        return method, path + ("?" + urlencode(q) if q else ""), None
    return method, path, draw(_body(op))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(call=_calls())
def test_fuzz_no_operation_answers_5xx(site: RunningSite, call: tuple[str, str, Any]) -> None:
    method, path, body = call
    status, data = request(site, method, path, body)
    assert status < 500, (method, path, body, data)


# ---------------------------------------------------------------- on the LAN only over TLS
def _self_signed(folder: Path) -> tuple[Path, Path]:
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "imewe-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False).sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "api.crt", folder / "api.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_the_lan_needs_tls_and_tls_serves(tmp_path: Path) -> None:
    import ssl

    from app.bootstrap import build_core, wire_control_channel
    from app.core.config import load_config
    from app.core.domain.errors import ConfigError

    home = tmp_path / "lan"
    home.mkdir()
    (home / "config.toml").write_text('[api]\nhost = "0.0.0.0"\n', encoding="utf-8")
    core = build_core(load_config(str(home)), connect_machines=False)
    with pytest.raises(ConfigError, match="only over TLS"):
        wire_control_channel(core, "serve")
    core.store.close()
    cert, key = _self_signed(tmp_path)
    (home / "config.toml").write_text(f'[api]\nhost = "127.0.0.1"\ntls_cert = "{cert}"\ntls_key = "{key}"\n',
                                      encoding="utf-8")

    async def go() -> tuple[int, str]:
        core = build_core(load_config(str(home)), connect_machines=False)
        wire_control_channel(core, "serve")
        await core.kernel.boot()
        try:
            port = core.control.api_port
            ctx = ssl.create_default_context(cafile=str(cert))
            async with aiohttp.ClientSession() as http:
                async with http.get(f"https://127.0.0.1:{port}/openapi.json", ssl=ctx) as resp:
                    secure = resp.status
                with pytest.raises(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{port}/openapi.json") as resp:
                        await resp.read()
                token = core.control._token  # noqa: SLF001 - the channel token is for loopback HTTP only
                async with http.get(f"https://127.0.0.1:{port}/jobs", ssl=ctx,
                                    headers={"Authorization": f"Bearer {token}"}) as resp:
                    body = await resp.text()
                    return secure, f"{resp.status} {body}"
        finally:
            await core.kernel.shutdown()

    secure, channel_over_tls = asyncio.run(go())
    assert secure == 200
    assert channel_over_tls.startswith("401")
