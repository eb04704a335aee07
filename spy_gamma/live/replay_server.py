"""A local WebSocket server that replays one simulated session in Polygon's message shapes, and injects faults.

The tape is the day's flat files (trades, quotes, SPY minute bars) merged in time order. A replay clock starts at
the first subscription: an event stamped t is due ``(t - first event) / speed`` seconds later, whoever is
connected, so a client that drops out misses what fell due meanwhile (a real gap, as on the live feed). Events
are sent as JSON arrays to 127.0.0.1 on a random port; ``Faults`` add disconnects, duplicates, out-of-order
delivery and a slow-consumer cut-off, and a wrong key gets ``auth_failed``. Replay-only addition: a final status
``replay_complete`` once the tape is exhausted (a live client ends at the session close instead).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from spy_gamma.live.messages import MS, bar_events, quote_events, status, trade_events
from spy_gamma.sources.day_files import require
from spy_gamma.sources.flatfiles import LocalFlatFiles
from spy_gamma.sources.readers import read_minute_aggs
from spy_gamma.sources.spy_lines import read_spy_quotes, read_spy_trades

QUOTE_LIMIT = 1000  # Polygon: at most 1,000 quoted option contracts per connection
TICK_S = 0.02  # how often due events are sent
BATCH_EVENTS = 2000  # events per message at most
AUTH_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Faults:
    """What the server does wrong on purpose: drop each connection after ``disconnect_after`` events (the first
    ``disconnects`` times), resend every ``duplicate_every``-th event, shuffle events within blocks of
    ``shuffle_block`` (out of order), cut a client whose pong to a ping takes over ``max_lag_s`` (slow consumer:
    a ping queues behind the data the client has not read yet)."""

    disconnect_after: int | None = None
    disconnects: int = 1
    duplicate_every: int = 0
    shuffle_block: int = 0
    max_lag_s: float | None = None
    seed: int = 0


@dataclass(frozen=True)
class Tape:
    """One session's events in time order: ``(due_ns, channel, symbol, event)``; channel ``T``, ``Q`` or ``AM``."""

    day: dt.date
    events: list[tuple[int, str, str, dict]]

    @classmethod
    def from_flatfiles(cls, root: Path, day: dt.date) -> Tape:
        """The tape of a day's local flat files (the simulator's, or any in Polygon's layout)."""
        source = LocalFlatFiles(root)
        trades = read_spy_trades(require(source, "trades", day)).frame.rename({"file_row": "sequence"})
        quotes = read_spy_quotes(require(source, "quotes", day))
        bars = read_minute_aggs(require(source, "minute_aggs", day))
        return cls.from_frames(day, trades, quotes, bars)

    @classmethod
    def from_frames(cls, day: dt.date, trades: pl.DataFrame, quotes: pl.DataFrame, bars: pl.DataFrame) -> Tape:
        """The tape of trades (with ``sequence``), quotes and minute bars; a bar is due when its minute ends."""
        tagged = ([(e["t"], "T", e["sym"], e) for e in trade_events(trades)]
                  + [(e["t"], "Q", e["sym"], e) for e in quote_events(quotes)]
                  + [(e["e"] * MS, "AM", e["sym"], e) for e in bar_events(bars)])
        order = {"Q": 0, "T": 1, "AM": 2}  # a quote stamped with a print's ns is sent first, as the SIP orders them
        return cls(day, sorted(tagged, key=lambda row: (row[0], order[row[1]])))


@dataclass
class _Client:
    """One connection's subscriptions and how far through the tape it has been sent."""

    trades: set[str] = field(default_factory=set)
    quotes: set[str] = field(default_factory=set)
    aggregates: set[str] = field(default_factory=set)
    sent: int = 0


class ReplayServer:
    """Serve a :class:`Tape` at ``speed`` x real time (0: as fast as the client reads) on 127.0.0.1.

    Use as a context manager (it runs its own event loop on a thread): ``with ReplayServer(tape, key) as url:``.
    """

    def __init__(self, tape: Tape, api_key: str, speed: float = 60.0, faults: Faults | None = None):
        self.tape, self.api_key, self.speed = tape, api_key, speed
        self.faults = faults or Faults()
        self.connections = 0
        self.auth_failures = 0
        self._cuts = 0
        self._clock_start: float | None = None
        self._position = 0  # shared tape position when speed is 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def __enter__(self) -> str:
        self._thread = threading.Thread(target=self._run, name="replay-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("replay server did not start within 30 s")
        return self.url

    def __exit__(self, *exc) -> None:
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread:
            self._thread.join(10)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        async with serve(self._handle, "127.0.0.1", 0, max_size=2 ** 24) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            self.url = f"ws://127.0.0.1:{port}/options"
            self._ready.set()
            await self._stop.wait()

    async def _handle(self, connection: ServerConnection) -> None:
        self.connections += 1
        await connection.send(json.dumps([status("connected", "Connected Successfully")]))
        try:
            if not await self._authenticated(connection):
                return
            client = _Client()
            reader = asyncio.create_task(self._read_subscriptions(connection, client))
            try:
                await self._stream(connection, client)
            finally:
                reader.cancel()
        except ConnectionClosed:
            return

    async def _authenticated(self, connection: ServerConnection) -> bool:
        message = json.loads(await asyncio.wait_for(connection.recv(), AUTH_TIMEOUT_S))
        if message.get("action") == "auth" and message.get("params") == self.api_key:
            await connection.send(json.dumps([status("auth_success", "authenticated")]))
            return True
        self.auth_failures += 1
        await connection.send(json.dumps([status("auth_failed", "authentication failed")]))
        await connection.close(1008, "authentication failed")
        return False

    async def _read_subscriptions(self, connection: ServerConnection, client: _Client) -> None:
        async for raw in connection:
            message = json.loads(raw)
            channels = [p.strip() for p in str(message.get("params", "")).split(",") if p.strip()]
            subscribe = message.get("action") == "subscribe"
            for channel in channels:
                kind, _, symbol = channel.partition(".")
                target = {"T": client.trades, "Q": client.quotes, "A": client.aggregates,
                          "AM": client.aggregates}.get(kind)
                if target is None:
                    continue
                if subscribe:
                    target.add(symbol)
                else:
                    target.discard(symbol)
            if len(client.quotes) > QUOTE_LIMIT:
                dropped = sorted(client.quotes)[QUOTE_LIMIT:]
                client.quotes.difference_update(dropped)
                await connection.send(json.dumps([status("error", f"max {QUOTE_LIMIT} quoted contracts: "
                                                                  f"{len(dropped)} not subscribed")]))
            if subscribe and self._clock_start is None:
                self._clock_start = time.monotonic()

    def _due_index(self) -> int:
        """How many tape events are due now on the replay clock."""
        if self._clock_start is None:
            return 0
        if self.speed <= 0:
            return len(self.tape.events)
        first = self.tape.events[0][0] if self.tape.events else 0
        elapsed_ns = (time.monotonic() - self._clock_start) * self.speed * 1e9
        lo, hi = self._position, len(self.tape.events)
        while lo < hi:  # first event not yet due
            mid = (lo + hi) // 2
            if self.tape.events[mid][0] - first <= elapsed_ns:
                lo = mid + 1
            else:
                hi = mid
        self._position = lo
        return lo

    async def _stream(self, connection: ServerConnection, client: _Client) -> None:
        """Send due events the client subscribed to, from where the replay clock stands when it joined."""
        rng = random.Random(self.faults.seed + self.connections)
        client.sent = self._due_index() if self.speed > 0 else self._position
        delivered, probe = 0, None
        while True:
            due = self._due_index()
            if self.faults.max_lag_s is not None:
                if probe is None or probe[0].done():
                    probe = (await connection.ping(), time.monotonic())
                elif time.monotonic() - probe[1] > self.faults.max_lag_s:
                    await connection.send(json.dumps([status("error", "slow consumer: disconnected")]))
                    await connection.close(1008, "slow consumer")
                    return
            end = min(due, client.sent + BATCH_EVENTS)
            batch = [event for _, channel, symbol, event in self.tape.events[client.sent:end]
                     if symbol in _channel_set(client, channel)]
            client.sent = end
            if self.speed <= 0:
                self._position = end
            batch = self._faulty(batch, rng)
            if batch:
                await connection.send(json.dumps(batch))
                delivered += len(batch)
            if self._cut_due(delivered):
                self._cuts += 1
                await connection.close(1011, "replay fault: disconnect")
                return
            if client.sent >= len(self.tape.events) and self._clock_start is not None:
                await connection.send(json.dumps([status("replay_complete", f"{self.tape.day} replay finished")]))
                await connection.wait_closed()
                return
            await asyncio.sleep(TICK_S if end >= due else 0)

    def _cut_due(self, delivered: int) -> bool:
        after = self.faults.disconnect_after
        return after is not None and self._cuts < self.faults.disconnects and delivered >= after

    def _faulty(self, batch: list[dict], rng: random.Random) -> list[dict]:
        """The batch with the configured duplicates and out-of-order blocks."""
        every, block = self.faults.duplicate_every, self.faults.shuffle_block
        if every:
            batch = [copy for i, event in enumerate(batch) for copy in ([event, event] if i % every == 0 else [event])]
        if block > 1:
            shuffled = []
            for start in range(0, len(batch), block):
                piece = batch[start:start + block]
                rng.shuffle(piece)
                shuffled.extend(piece)
            batch = shuffled
        return batch


def _channel_set(client: _Client, channel: str) -> set[str]:
    return client.trades if channel == "T" else client.quotes if channel == "Q" else client.aggregates
