"""``spy-gamma bench live``: events per second the live path sustains, and print-to-served-number latency at 60x.

Both run the real path end to end: the local replay server, the WebSocket client, the session's tape, signing,
re-pricing and lake snapshots. Load: the simulated day's events, LOAD_COPIES distinct copies of each, squeezed into
``LOAD_MINUTES`` minutes of market time and replayed as fast as the client reads. Latency: a window of the normal day replayed at 60x, per step from the arrival of the step's first print to
its snapshot in the lake (what the API serves), so it includes the wait for the step to end.

Busy real minute assumed: 15,000 prints and quotes (SPY prints alone peak at ~10k a minute at the open and close on
busy days, ~1.5-2 M a day; the quote stream of 1,000 near-spot contracts is far denser on the real feed, so this
is a floor for quotes, stated as such). Goal: 20x that, 300,000 events a minute = 5,000 events a second.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from spy_gamma.lake import Lake
from spy_gamma.live.client import Feed
from spy_gamma.live.messages import MS
from spy_gamma.live.morning import Morning, target_expiries
from spy_gamma.live.replay_server import ReplayServer, Tape
from spy_gamma.live.run import stream
from spy_gamma.live.session import LiveSession, LiveSettings
from spy_gamma.trading_calendar import session_open_ns

BUSY_MINUTE_EVENTS = 15_000
GOAL_MULTIPLE = 20
LOAD_MINUTES = 5
LOAD_COPIES = 20
LATENCY_WINDOW_MINUTES = 30
LATENCY_STEP_S = 15


def load_tape(tape: Tape, minutes: int, copies: int) -> Tape:
    """The tape's events ``copies`` times over (each copy's prints and quotes distinct: own sequence numbers, 1 ns
    apart), their times mapped linearly onto the session's first ``minutes`` minutes."""
    stamps = np.array([due for due, *_ in tape.events], dtype=np.float64)
    start = session_open_ns(tape.day)
    span = max(stamps.max() - stamps.min(), 1.0)
    mapped = (start + (stamps - stamps.min()) * (minutes * 60e9 - copies - 1) / span).astype(np.int64).tolist()
    events = []
    for t, (_, channel, symbol, event) in zip(mapped, tape.events):
        if channel == "AM":
            events.append((t, channel, symbol, {**event, "s": t // MS - 60_000, "e": t // MS}))
            continue
        for copy in range(copies):
            events.append((t + copy, channel, symbol, {**event, "t": t + copy, "q": event["q"] + copy * 10 ** 9}))
    return Tape(tape.day, events)


def windowed(tape: Tape, minutes: int) -> Tape:
    """The tape's first ``minutes`` minutes of the regular session."""
    start = session_open_ns(tape.day)
    end = start + minutes * 60 * 10 ** 9
    return Tape(tape.day, [row for row in tape.events if start <= row[0] < end])


def _replay(lake: Lake, tape: Tape, day: dt.date, speed: float, settings: LiveSettings) -> tuple[LiveSession, int,
                                                                                               float]:
    """(session, events delivered, wall seconds) of one replay through the local server."""
    morning = Morning.from_lake(lake, day, target_expiries(lake, day), hindsight=True)
    session = LiveSession(lake, morning, settings)
    universe = morning.trade_universe(lake)
    with ReplayServer(tape, "bench", speed) as url:
        started = time.perf_counter()
        stream(session, [Feed(url, lambda: session.channels(universe))], "bench")
        seconds = time.perf_counter() - started
    return session, session.events_received, seconds


def run_live_bench(json_path: Path, data_dir: Path | None = None) -> dict:
    """Run both measurements on the latest as-of day of the lake's batch runs and write the JSON."""
    data = Path(data_dir or os.environ.get("SPY_GAMMA_DATA_DIR", "data"))
    lake = Lake(data)
    days = lake.keys("position_path")
    if not days:
        raise RuntimeError(f"{data}: no batch run in the lake: run `spy-gamma demo` first")
    day = days[-1]
    tape = Tape.from_flatfiles(_flatfiles(data), day)
    load_session, events, seconds = _replay(lake, load_tape(tape, LOAD_MINUTES, LOAD_COPIES), day, 0,
                                            LiveSettings(step_ns=60 * 10 ** 9))
    latency_session, _, _ = _replay(lake, windowed(tape, LATENCY_WINDOW_MINUTES), day, 60,
                                    LiveSettings(step_ns=LATENCY_STEP_S * 10 ** 9))
    latencies = np.array(latency_session.latencies_s)
    rate = events / seconds
    goal = BUSY_MINUTE_EVENTS * GOAL_MULTIPLE / 60
    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "session": str(day),
        "load": {"events": events, "market_minutes": LOAD_MINUTES, "seconds": round(seconds, 3),
                 "events_per_second": round(rate, 1), "prints": load_session.levels[-1]["prints"],
                 "steps": len(load_session.levels)},
        "assumed_busy_minute_events": BUSY_MINUTE_EVENTS,
        "goal_events_per_second": goal, "multiple_of_busy_minute": round(rate * 60 / BUSY_MINUTE_EVENTS, 1),
        "goal_met": bool(rate >= goal),
        "latency_60x": {"step_seconds": LATENCY_STEP_S, "window_minutes": LATENCY_WINDOW_MINUTES,
                        "steps_measured": int(latencies.size),
                        **({f"p{p}_s": round(float(np.percentile(latencies, p)), 3) for p in (50, 95)}
                           if latencies.size else {}),
                        "max_s": round(float(latencies.max()), 3) if latencies.size else None,
                        "goal_s": 1.0, "goal_met": bool(latencies.size and latencies.max() < 1.0)},
    }
    json_path.write_text(json.dumps(result, indent=1))
    return result


def _flatfiles(data: Path) -> Path:
    from spy_gamma.settings import Settings

    settings = Settings.from_env()
    return settings.local_root if settings.local_root.exists() else data / "flatfiles" / "simulated"
