"""A running site owner for the people and API tests: a real core with its control channel on 127.0.0.1, in a
thread with its own event loop, with an admin and one person of every role signed in."""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

from app.bootstrap import Core, build_core, user_service, wire_control_channel
from app.cli.main import main
from app.core.api.channel import ChannelInfo, read_channel
from app.core.auth.permissions import Role
from app.core.auth.service import SignInPolicy, UserService
from app.core.config import load_config
from app.devices.factory import make_driver

from .helpers import FDM

T = TypeVar("T")
PASSWORD = "correct horse 1"


class RunningSite:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="site-owner", daemon=True)
        self._thread.start()
        self.core: Core = self.call(self._boot())
        self.users: UserService = user_service(self.core.config, self.core.store, self.core.clock)
        self.users.policy = SignInPolicy(first_delay_s=0.2, max_delay_s=0.4, lock_after=5, lock_s=30)
        self.info: ChannelInfo = read_channel(home)  # type: ignore[assignment]
        self.tokens: dict[Role, str] = {}
        self.node = self.call(self._machine("m1"))

    async def _boot(self) -> Core:
        core = build_core(load_config(str(self.home)), connect_machines=False, plan_budget_s=0.05)
        wire_control_channel(core, "serve")
        await core.kernel.boot()
        return core

    async def _machine(self, name: str):
        node = await self.core.fleet.register(name, FDM, bring_up=True)
        await self.core.machines.attach(node.id, make_driver("sim", name=name, capabilities=FDM,
                                                             clock=self.core.clock))
        return node

    def call(self, coro: Coroutine[Any, Any, T], timeout_s: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def add_people(self) -> None:
        async def go() -> None:
            await self.users.create_admin("root", PASSWORD)
            root = await self.users.resolve((await self.users.login("root", PASSWORD))[0])
            for role in Role:
                if role is not Role.ADMIN:
                    await self.users.add(root, role.value, PASSWORD, role)
            for role in Role:
                name = "root" if role is Role.ADMIN else role.value
                self.tokens[role] = (await self.users.login(name, PASSWORD))[0]

        self.call(go())

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call(self.core.kernel.shutdown())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


@contextlib.contextmanager
def running_site(home: Path) -> Iterator[RunningSite]:
    site = RunningSite(home)
    try:
        yield site
    finally:
        site.close()


def cli(home: Path, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    import sys

    out, err = io.StringIO(), io.StringIO()
    old_in = sys.stdin
    if stdin is not None:
        sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(["--home", str(home), *args])
    finally:
        sys.stdin = old_in
    return rc, out.getvalue(), err.getvalue()
