"""An implicit-TLS FTP server limited to what a Bambu printer's SD-card server is used for (USER, PASS, PBSZ,
PROT, TYPE, PASV, STOR, SIZE, PWD, CWD, NOOP, QUIT). Follows RFC 959 (FTP) and RFC 4217 (FTP over TLS; implicit
mode as on port 990: TLS from the first byte on both the control and the data connections)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable

log = logging.getLogger(__name__)
DATA_TIMEOUT_S = 10.0


class FtpsSession:
    def __init__(self, ctx: ssl.SSLContext, user: str, password: str, store: Callable[[str, bytes], None],
                 size: Callable[[str], int | None], reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.ctx = ctx
        self.user = user
        self.password = password
        self.store = store
        self.size = size
        self.reader = reader
        self.writer = writer
        self.given_user = ""
        self.logged_in = False
        self.prot_p = False
        self.data_server: asyncio.base_events.Server | None = None
        self.data_conn: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] | None = None

    async def reply(self, line: str) -> None:
        self.writer.write(line.encode() + b"\r\n")
        await self.writer.drain()

    async def run(self) -> None:
        await self.reply("220 emulated Bambu printer FTPS ready")
        try:
            while True:
                raw = await self.reader.readline()
                if not raw:
                    return
                cmd, _, arg = raw.decode("utf-8", "replace").strip().partition(" ")
                if not await self.handle(cmd.upper(), arg):
                    return
        finally:
            await self._close_data()
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()

    async def handle(self, cmd: str, arg: str) -> bool:
        if cmd == "QUIT":
            await self.reply("221 bye")
            return False
        if cmd == "USER":
            self.given_user = arg
            await self.reply("331 password required")
        elif cmd == "PASS":
            self.logged_in = self.given_user == self.user and arg == self.password
            await self.reply("230 logged in" if self.logged_in else "530 login incorrect")
        elif not self.logged_in:
            await self.reply("530 please log in")
        elif cmd == "PBSZ":
            await self.reply("200 PBSZ=0")
        elif cmd == "PROT":
            self.prot_p = arg.upper() == "P"
            await self.reply(f"200 protection level {arg.upper()}")
        elif cmd in ("TYPE", "NOOP", "CWD"):
            await self.reply("200 ok")
        elif cmd == "PWD":
            await self.reply('257 "/"')
        elif cmd == "SIZE":
            n = self.size(arg)
            await self.reply(f"213 {n}" if n is not None else "550 no such file")
        elif cmd == "PASV":
            await self._pasv()
        elif cmd == "STOR":
            await self._stor(arg)
        else:
            await self.reply(f"502 {cmd} not implemented")
        return True

    async def _pasv(self) -> None:
        await self._close_data()
        loop = asyncio.get_running_loop()
        self.data_conn = loop.create_future()
        fut = self.data_conn

        def accepted(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            if not fut.done():
                fut.set_result((r, w))
            else:
                w.close()

        self.data_server = await asyncio.start_server(accepted, "127.0.0.1", 0,
                                                      ssl=self.ctx if self.prot_p else None)
        port = self.data_server.sockets[0].getsockname()[1]
        await self.reply(f"227 Entering Passive Mode (127,0,0,1,{port >> 8},{port & 0xFF})")

    async def _stor(self, name: str) -> None:
        if self.data_conn is None:
            await self.reply("425 use PASV first")
            return
        await self.reply("150 opening data connection")
        try:
            r, w = await asyncio.wait_for(self.data_conn, DATA_TIMEOUT_S)
            data = await asyncio.wait_for(r.read(), 600)
            w.close()
            with contextlib.suppress(Exception):
                await w.wait_closed()
        except (TimeoutError, OSError, ssl.SSLError) as exc:
            log.warning("ftps: data connection failed: %s", exc)
            await self._close_data()
            await self.reply("426 transfer aborted")
            return
        await self._close_data()
        self.store(name.lstrip("/").rsplit("/", 1)[-1], data)
        await self.reply("226 transfer complete")

    async def _close_data(self) -> None:
        if self.data_server is not None:
            self.data_server.close()
            self.data_server = None
        self.data_conn = None


async def start_ftps(ctx: ssl.SSLContext, port: int, user: str, password: str,
                     store: Callable[[str, bytes], None], size: Callable[[str], int | None]) -> asyncio.Server:
    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await FtpsSession(ctx, user, password, store, size, reader, writer).run()

    return await asyncio.start_server(on_client, "127.0.0.1", port, ssl=ctx)
