"""Run a live session end to end: against the real feed, or replaying a simulated day through the local server."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from pathlib import Path

from spy_gamma.lake import Lake
from spy_gamma.live.client import DELAYED_STOCKS_URL, DELAYED_URL, LIVE_URL, STOCKS_URL, Feed, run_feed
from spy_gamma.live.morning import Morning
from spy_gamma.live.replay_server import Faults, ReplayServer, Tape
from spy_gamma.live.session import LiveSession, LiveSettings


def stream(session: LiveSession, feeds: list[Feed], api_key: str, max_connections: int | None = None) -> dict:
    """Run the feeds into the session until it closes; the close's reconciliation summary."""

    async def main() -> None:
        stop = asyncio.Event()
        await asyncio.gather(*(run_feed(feed, api_key, session, stop, max_connections) for feed in feeds))

    asyncio.run(main())
    return session.finish()


def live_feeds(session: LiveSession, universe: list[str], delayed: bool) -> list[Feed]:
    """The options socket (trades, quotes) and the stocks socket (SPY minute aggregates) of Massive/Polygon."""
    options = Feed(DELAYED_URL if delayed else LIVE_URL, lambda: [c for c in session.channels(universe)
                                                                 if not c.startswith("AM.")])
    stocks = Feed(DELAYED_STOCKS_URL if delayed else STOCKS_URL, lambda: ["AM.SPY"])
    return [options, stocks]


def replay_session(lake: Lake, flatfiles: Path, day: dt.date, expiries: list[dt.date], speed: float,
                   settings: LiveSettings | None = None, faults: Faults | None = None,
                   hindsight: bool = False, max_connections: int | None = None) -> tuple[LiveSession, dict]:
    """Replay ``day``'s flat files through a local WebSocket server into a live session; (session, summary)."""
    morning = Morning.from_lake(lake, day, expiries, hindsight=hindsight)
    session = LiveSession(lake, morning, settings)
    key = secrets.token_hex(8)  # the local server's own key: nothing real is ever sent to it
    universe = morning.trade_universe(lake)
    with ReplayServer(Tape.from_flatfiles(flatfiles, day), key, speed, faults) as url:
        summary = stream(session, [Feed(url, lambda: session.channels(universe))], key, max_connections)
    return session, summary
