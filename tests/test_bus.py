import asyncio
from dataclasses import dataclass

from app.core.bus import EventBus, Overflow


@dataclass(frozen=True)
class Ping:
    n: int


@dataclass(frozen=True)
class Other:
    pass


def test_async_subscribers_receive_only_their_types_in_order() -> None:
    async def go() -> list[int]:
        bus = EventBus()
        got: list[int] = []

        async def handler(e: Ping) -> None:
            await asyncio.sleep(0)
            got.append(e.n)

        bus.subscribe(Ping, handler)
        for i in range(100):
            bus.publish(Ping(i))
            bus.publish(Other())
        await bus.drain()
        await bus.close()
        return got

    assert asyncio.run(go()) == list(range(100))


def test_bounded_queue_overflow_policies_are_explicit_and_counted() -> None:
    bus = EventBus()  # no loop running: events only queue
    newest = bus.subscribe(Ping, lambda e: None, name="newest", maxsize=3, overflow=Overflow.DROP_OLDEST)
    oldest = bus.subscribe(Ping, lambda e: None, name="oldest", maxsize=3, overflow=Overflow.DROP_NEWEST)
    for i in range(10):
        bus.publish(Ping(i))
    assert [e.n for e in newest.queue] == [7, 8, 9]
    assert [e.n for e in oldest.queue] == [0, 1, 2]
    assert bus.stats()["newest"]["dropped"] == 7 and bus.stats()["oldest"]["dropped"] == 7


def test_a_failing_subscriber_does_not_stop_the_others() -> None:
    async def go() -> tuple[int, dict]:
        bus = EventBus()
        good: list[int] = []

        def bad(e: Ping) -> None:
            raise RuntimeError("boom")

        bus.subscribe(Ping, bad, name="bad")
        bus.subscribe(Ping, lambda e: good.append(e.n), name="good")
        for i in range(5):
            bus.publish(Ping(i))
        await bus.drain()
        stats = bus.stats()
        await bus.close()
        return len(good), stats

    n, stats = asyncio.run(go())
    assert n == 5 and stats["bad"]["failures"] == 5
