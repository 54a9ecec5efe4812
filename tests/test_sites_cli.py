"""imewe sites id|add|accept|remove|list|status and imewe offload, through the real CLI entry point."""

from __future__ import annotations

import json

from app.cli.main import main
from app.core.sites.identity import load_or_create_identity


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_sites_cli_pairing_and_offload(tmp_path, capsys) -> None:
    home = str(tmp_path / "home")
    other = load_or_create_identity(tmp_path / "other" / "keys", "other").site_id
    code, out, _ = _run(capsys, "--home", home, "--json", "sites", "id")
    own = json.loads(out)["site_id"]
    assert code == 0 and len(own) == 63
    code, out, _ = _run(capsys, "--home", home, "sites", "id")
    assert out.splitlines()[0] == own  # the same identity every time
    code, _, err = _run(capsys, "--home", home, "sites", "add", own, "10.0.0.5:47470")
    assert code == 2 and "own ID" in err
    code, _, err = _run(capsys, "--home", home, "sites", "add", other[:-1] + ("A" if other[-1] != "A" else "B"))
    assert code == 2 and "typo" in err
    code, _, err = _run(capsys, "--home", home, "sites", "add", other, "no-port")
    assert code == 2 and "host:port" in err
    code, out, _ = _run(capsys, "--home", home, "sites", "add", other.lower(), "10.0.0.5:47470", "--name", "kano")
    assert code == 0 and "allowed site kano" in out
    code, out, _ = _run(capsys, "--home", home, "--json", "sites", "list")
    peers = json.loads(out)
    assert [(p["name"], p["state"], p["address"]) for p in peers] == [("kano", "allowed", "10.0.0.5:47470")]
    # A job goes to the outbox for kano; a second send of the same job is refused.
    assert _run(capsys, "--home", home, "nodes", "add", "P1", "--process", "fdm")[0] == 0
    code, out, _ = _run(capsys, "--home", home, "--json", "jobs", "submit", "--name", "bracket", "--process", "fdm",
                        "--material", "pla", "--size", "10x10x10")
    job = json.loads(out)["id"]
    code, out, _ = _run(capsys, "--home", home, "offload", job[:8], "--to", "kano")
    assert code == 0 and "queued for the linked site" in out
    code, _, err = _run(capsys, "--home", home, "offload", job[:8], "--to", "kano")
    assert code == 2 and "already sent" in err
    code, out, _ = _run(capsys, "--home", home, "--json", "sites", "status")
    st = json.loads(out)[0]
    assert st["queued"] == 1 and st["open_offloads"] == 1
    code, out, _ = _run(capsys, "--home", home, "sites", "remove", "kano")
    assert code == 0 and "revoked" in out
    code, _, err = _run(capsys, "--home", home, "offload", job[:8], "--to", "kano")
    assert code == 2 and "revoked" in err
