"""Zeroconf in tests: 127.0.0.1 only, IPv4 only, and service types of this test run's own.

Every zeroconf socket on 127.0.0.1 joins the same multicast group, so two test runs at once on one machine would
hear each other's adverts (and clash over instance names such as "Shop OctoPi"). Each run (each pytest process)
draws a random suffix, and its discovery, agents, sites and fake printers announce and browse only the types
made with it: ``_n<run>`` for node agents, ``_o``/``_m``/``_p<run>`` for OctoPrint, Moonraker and PrusaLink,
``_s<run>`` for sites. Tests that start real ``imewe node`` processes use the real types and filter by their
own per-run node ids and pairing token instead."""

from __future__ import annotations

import uuid

LOOPBACK = ["127.0.0.1"]
RUN = uuid.uuid4().hex[:8]


def _type(letter: str) -> str:
    return f"_{letter}{RUN}._tcp.local."  # a service name of 9 characters: RFC 6763 allows 15


NODE_TYPE = _type("n")
SITE_TYPE = _type("s")
TYPES = {"imewe-node": NODE_TYPE, "octoprint": _type("o"), "moonraker": _type("m"), "prusalink": _type("p")}
KINDS = {stype: kind for kind, stype in TYPES.items()}  # what ZeroconfDiscovery(kinds=...) takes


def instance(name: str, kind: str) -> str:
    """The full service name of an advert of ``kind`` named ``name`` in this run's types."""
    return f"{name}.{TYPES[kind]}"
