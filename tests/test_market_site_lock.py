"""The market commands that change something follow the site's one-owner rule, as every other change does: with
an owner running they go through its control channel; with the site's lock held by an owner whose channel does not
answer they are refused with one clear line and nothing stored changes; with no owner they write under the lock."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.core.ownership import site_lock
from app.core.sites.identity import load_or_create_identity

from .people_site import cli, running_site
from .test_sites_support import dump_database as _dump

# (command line, what it needs): every market command that writes to the store or the site-link outbox
CHANGES = [
    ["market", "publish", "capacity", "FDM 2", "--to", "peer", "--process", "fdm", "--per-hour", "9"],
    ["market", "publish", "--file", "{offers}", "--to", "peer"],
    ["market", "withdraw", "FDM PLA"],
    ["market", "quote", "FDM PLA", "--job", "ffffffff"],
    ["market", "order", "ffffffff"],
    ["market", "rate", "ffffffff", "4"],
    ["market", "take", "FDM PLA"],
    ["market", "comment", "FDM PLA", "good value"],
]


def _peer_id(root: Path) -> str:
    return load_or_create_identity(root / "peer-keys", "peer").site_id


def _args(argv: list[str], offers: Path) -> list[str]:
    return [a.replace("{offers}", str(offers)) for a in argv]


def test_market_changes_are_not_written_past_an_owner_without_a_channel(tmp_path: Path, db_url: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import app.cli.output

    monkeypatch.setattr(app.cli.output, "WAIT_FOR_SITE_S", 0.3)
    home = tmp_path / "site"
    offers = tmp_path / "offers.json"
    offers.write_text(json.dumps([{"kind": "capacity", "name": "CNC", "process": "cnc_mill", "per_hour": 40}]))
    # No owner yet: the commands work on the store under the lock.
    rc, _, err = cli(home, "--db", db_url, "sites", "add", _peer_id(tmp_path), "--name", "peer")
    assert rc == 0, err
    rc, out, err = cli(home, "--db", db_url, "market", "publish", "capacity", "FDM PLA", "--to", "peer",
                       "--process", "fdm", "--per-hour", "10")
    assert rc == 0 and "published to 1 site(s)" in out, err
    before = _dump(db_url)
    owner = site_lock(home, db_url, "serve")
    owner.acquire()  # an owner that has not opened its channel (yet), as a starting `imewe serve` is
    try:
        for argv in CHANGES:
            rc, out, err = cli(home, "--db", db_url, *_args(argv, offers))
            assert rc == 2, (argv, out, err)
            assert f"process {os.getpid()}" in err and "no control channel" in err, (argv, err)
            assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        rc, out, _ = cli(home, "--db", db_url, "market", "offers", "--mine")  # reading still works
        assert rc == 0 and "FDM PLA" in out
    finally:
        owner.release()
    assert _dump(db_url) == before  # nothing stored changed: no offer, outbox message, comment or audit entry


def test_market_changes_go_through_the_running_owner(tmp_path: Path) -> None:
    home = tmp_path / "site"
    with running_site(home) as site:
        rc, _, err = cli(home, "sites", "add", _peer_id(tmp_path), "--name", "peer")
        assert rc == 0, err
        asked = site.core.control.requests
        rc, out, err = cli(home, "market", "publish", "capacity", "FDM PLA", "--to", "peer", "--process", "fdm",
                           "--per-hour", "10")
        assert rc == 0 and "10 EUR/h" in out, err
        rc, out, err = cli(home, "market", "comment", "FDM PLA", "good value", "--author", "ann")
        assert rc == 0 and "sent to 1 site(s)" in out, err
        rc, out, err = cli(home, "market", "withdraw", "FDM PLA")
        assert rc == 0 and "withdrawn" in out, err
        rc, _, err = cli(home, "market", "rate", "ffffffff", "4")  # the owner's answer, as one line
        assert rc == 2 and "ffffffff" in err and len(err.strip().splitlines()) == 1, err
        assert site.core.control.requests == asked + 4  # each went to the owner, none around it
    store = _dump(f"sqlite:///{home / 'imewe.sqlite3'}")
    actions = [r for r in store["audit_log"] if "'market." in r]
    assert len(actions) == 2  # publish and withdraw, written once each by the owner
