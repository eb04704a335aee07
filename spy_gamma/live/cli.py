"""``spy-gamma live``: validate the arguments (exit 2 naming the flag), make sure the morning's batch outputs exist,
run the session (a replay, or the real feed) and print the close's reconciliation."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from urllib.parse import urlparse

from spy_gamma.lake import Lake
from spy_gamma.live.session import LiveSettings
from spy_gamma.trading_calendar import CalendarRangeError, is_trading_day, previous_trading_day

NEEDED = ("dealer_positions", "signing_fit", "contract_iv", "target_expiries")


def validated(args) -> tuple[dt.date, LiveSettings]:
    """The session day and settings, or exit 2 naming the flag."""
    parser = args.parser
    if args.replay and args.date:
        parser.error("arguments --replay/--date: give one (a replayed day, or today's live session)")
    if args.speed < 0:
        parser.error(f"argument --speed: {args.speed} is negative (0 replays as fast as possible)")
    if not 1 <= args.step_seconds <= 3600:
        parser.error(f"argument --step-seconds: {args.step_seconds} is outside 1..3600")
    if args.webhook and urlparse(args.webhook).scheme not in ("http", "https"):
        parser.error(f"argument --webhook: {args.webhook!r} is not an http(s) URL")
    day = args.replay or args.date or dt.datetime.now(dt.timezone(dt.timedelta(hours=-5))).date()
    try:
        trading = is_trading_day(day)
    except CalendarRangeError as error:
        parser.error(f"argument --replay/--date: {error}")
    if not trading:
        parser.error(f"argument --replay/--date: {day} is not an NYSE session")
    problems = [f"{e} is before the session {day}" for e in args.expiry or [] if e < day]
    if problems:
        parser.error("argument --expiry: " + "; ".join(problems))
    return day, LiveSettings(step_ns=args.step_seconds * 1_000_000_000, webhook=args.webhook)


def ensure_morning(lake: Lake, day: dt.date, hindsight: bool, console) -> None:
    """Run the batch analysis the session starts from when the lake lacks it (the previous close, or the day
    itself for a hindsight replay); real sources need it run beforehand."""
    key = day if hindsight else previous_trading_day(day)
    if all(lake.exists(table, key) for table in NEEDED) and lake.exists("contract_iv", previous_trading_day(day)):
        return
    from spy_gamma.pipeline import SPYPositioningPipeline

    console.print(f"the lake has no batch run as of {key}: running it first (spy-gamma run --date {key})")
    output = lake.data_dir / "live_morning" / key.isoformat()
    SPYPositioningPipeline(output_dir=output).run_full_analysis(key, [])


def run_live_command(args, console) -> int:
    """The ``live`` subcommand."""
    day, settings = validated(args)
    data_dir = Path(os.environ["SPY_GAMMA_DATA_DIR"])
    lake = Lake(data_dir)
    from spy_gamma.live.morning import Morning, target_expiries

    if args.replay:
        ensure_morning(lake, day, args.hindsight, console)
    expiries = args.expiry or target_expiries(lake, day)
    console.print(f"live session {day}: expiries {', '.join(map(str, expiries))}; snapshots in {lake.root}/live_*")
    if args.replay:
        from spy_gamma.live.run import replay_session
        from spy_gamma.settings import Settings

        flatfiles = Settings.from_env().local_root
        session, summary = replay_session(lake, flatfiles, day, expiries, args.speed, settings,
                                          hindsight=args.hindsight)
    else:
        key = os.environ.get("POLYGON_API_KEY")
        if not key:
            args.parser.error("POLYGON_API_KEY is not set: the live feed needs it (or use --replay DATE)")
        from spy_gamma.live.run import live_feeds, stream
        from spy_gamma.live.session import LiveSession

        morning = Morning.from_lake(lake, day, expiries)
        session = LiveSession(lake, morning, settings)
        summary = stream(session, live_feeds(session, morning.trade_universe(lake), args.delayed), key)
    last = session.levels[-1] if session.levels else {}
    console.print(f"closed: {last.get('prints', 0)} prints, {len(session.gaps)} gaps, {len(session.alerts)} alerts; "
                  f"live book vs batch: {summary}")
    return 0
