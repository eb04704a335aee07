"""The feed connection: authenticate, subscribe, hand each message to the session, reconnect with backoff.

Massive/Polygon's options socket (``wss://socket.massive.com/options``; ``wss://delayed.massive.com/options`` for
the 15-minute delayed feed) answers ``connected``, then ``auth_success`` or ``auth_failed`` to
``{"action":"auth","params":KEY}``; ``{"action":"subscribe","params":"T.O:SPY...,Q.O:SPY..."}`` subscribes. SPY's
minute aggregates (``AM.SPY``) come from the stocks socket of the same host (the replay serves them on its one
socket). A dropped connection is retried with exponential backoff (0.5 s doubling to 30 s, reset once
authenticated), everything is resubscribed, and the stretch not delivered is recorded as a gap. The key is only
ever sent in the auth message: it is in no URL, log line or exception.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from spy_gamma.live.messages import to_ns
from spy_gamma.live.session import LiveSession
from spy_gamma.sources.secrets import redact

log = logging.getLogger(__name__)
LIVE_URL, DELAYED_URL = "wss://socket.massive.com/options", "wss://delayed.massive.com/options"
STOCKS_URL, DELAYED_STOCKS_URL = "wss://socket.massive.com/stocks", "wss://delayed.massive.com/stocks"
BACKOFF_START_S, BACKOFF_MAX_S = 0.5, 30.0
MAX_SUBSCRIBE_CHARS = 60_000  # one subscribe message's params at most


class AuthFailed(RuntimeError):
    """The feed refused the key (not retried: a wrong key stays wrong)."""


@dataclass
class Feed:
    """One socket: its URL and a function giving the channels to (re)subscribe on connecting."""

    url: str
    channels: Callable[[], list[str]]
    connections: int = 0
    last_event_ns: int | None = None
    down_since: float | None = None
    down_reason: str = ""


async def run_feed(feed: Feed, api_key: str, session: LiveSession, stop: asyncio.Event,
                   max_connections: int | None = None) -> None:
    """Stream ``feed`` into ``session`` until ``stop`` is set, the session closes or the replay completes."""
    backoff = BACKOFF_START_S
    while not stop.is_set() and not session.closed:
        if max_connections is not None and feed.connections >= max_connections:
            return
        feed.connections += 1
        try:
            async with connect(feed.url, max_size=2 ** 24, open_timeout=10) as socket:
                await _authenticate(socket, api_key)
                backoff = BACKOFF_START_S
                await _subscribe(socket, "subscribe", feed.channels())
                if await _pump(socket, feed, session, stop):
                    stop.set()
                    return
        except AuthFailed:
            raise
        except (ConnectionClosed, OSError, InvalidHandshake, InvalidURI, TimeoutError) as error:
            reason = redact(f"{type(error).__name__}: {error}", api_key)
            log.warning("feed %s dropped (%s); reconnecting in %.1f s", feed.url, reason, backoff)
            feed.down_since, feed.down_reason = feed.down_since or time.monotonic(), reason
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, BACKOFF_MAX_S)


async def _authenticate(socket, api_key: str) -> None:
    """Wait for ``connected``, send the key, wait for ``auth_success``."""
    await socket.send(json.dumps({"action": "auth", "params": api_key}))
    while True:
        for message in json.loads(await asyncio.wait_for(socket.recv(), 15)):
            if message.get("ev") != "status":
                continue
            if message["status"] == "auth_success":
                return
            if message["status"] == "auth_failed":
                raise AuthFailed(f"the feed refused the API key ({message.get('message', 'auth_failed')}); "
                                 "check POLYGON_API_KEY and the plan's WebSocket access")


async def _subscribe(socket, action: str, channels: list[str]) -> None:
    """(Un)subscribe in messages of at most MAX_SUBSCRIBE_CHARS of params."""
    chunk: list[str] = []
    for channel in channels:
        if chunk and sum(len(c) + 1 for c in chunk) + len(channel) > MAX_SUBSCRIBE_CHARS:
            await socket.send(json.dumps({"action": action, "params": ",".join(chunk)}))
            chunk = []
        chunk.append(channel)
    if chunk:
        await socket.send(json.dumps({"action": action, "params": ",".join(chunk)}))


async def _pump(socket, feed: Feed, session: LiveSession, stop: asyncio.Event) -> bool:
    """Messages into the session until the socket closes (False) or the session or replay ends (True)."""
    async for raw in socket:
        events = json.loads(raw)
        data = [e for e in events if e.get("ev") != "status"]
        if data:
            first = min(to_ns(e["t"]) if "t" in e else to_ns(e["s"]) for e in data)
            if feed.down_since is not None:
                await asyncio.to_thread(session.record_gap, feed.last_event_ns, first, feed.down_reason, time.monotonic() - feed.down_since)
                feed.down_since = None
            feed.last_event_ns = max(to_ns(e["t"]) if "t" in e else to_ns(e["e"]) for e in data)
            await asyncio.to_thread(session.on_events, data)
            added, dropped = session.quote_changes()
            await _subscribe(socket, "unsubscribe", [f"Q.{t}" for t in dropped])
            await _subscribe(socket, "subscribe", [f"Q.{t}" for t in added])
        if any(e.get("status") == "replay_complete" for e in events if e.get("ev") == "status"):
            await asyncio.to_thread(session.finish)
            return True
        if session.closed or stop.is_set():
            return True
        await asyncio.sleep(0)
    return False
