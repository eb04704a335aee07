"""Trading-day partitions (NYSE sessions) and the partition mappings that declare every cross-day read.

One partitions definition serves both kinds of asset: *daily* assets are keyed by the session whose files they
hold; *as-of* assets are keyed by the close their analysis is as of and read the daily partitions of their
lookback window through ``LOOKBACK``.
"""

from __future__ import annotations

import datetime as dt
import warnings

import dagster as dg

from spy_gamma.settings import Settings
from spy_gamma.trading_calendar import last_trading_day, next_trading_day, sessions_ending, weekday_holidays

HOLIDAY_HORIZON = dt.timedelta(days=400)  # exclusions computed this far past today for open-ended partitions


def trading_days_partitions(settings: Settings, today: dt.date) -> dg.DailyPartitionsDefinition:
    """Daily partitions from where the data starts, excluding weekends and NYSE holidays.

    The simulated market ends where it was simulated; real sources get a partition each session until today.
    """
    start, last = settings.first_partition, settings.last_partition
    horizon = last or today + HOLIDAY_HORIZON
    holidays = [dt.datetime.combine(day, dt.time()) for day in weekday_holidays(start, horizon)]
    end = {"end_date": (last + dt.timedelta(days=1)).isoformat()} if last else {"end_offset": 0}
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone="America/New_York",
                                        exclusions=["0 0 * * 6", "0 0 * * 0", *holidays], **end)


SETTINGS = Settings.from_env()  # read once, when the Definitions load: the graph's shape depends on it
trading_days = trading_days_partitions(SETTINGS, dt.date.today())
WINDOW_SESSIONS = SETTINGS.window_sessions  # as-of assets read this many daily partitions through LOOKBACK

warnings.filterwarnings("ignore", message=".*allow_nonexistent_upstream_partitions.*")  # beta, relied on below
LOOKBACK = dg.TimeWindowPartitionMapping(start_offset=-(WINDOW_SESSIONS - 1), end_offset=0,
                                         allow_nonexistent_upstream_partitions=True)
# Open interest at the start of d and of d+1 (OI at d's close): the pair that splits opens from closes.
OPEN_INTEREST_AROUND = dg.TimeWindowPartitionMapping(start_offset=0, end_offset=1,
                                                     allow_nonexistent_upstream_partitions=True)
LOOKBACK_AND_NEXT = dg.TimeWindowPartitionMapping(start_offset=-(WINDOW_SESSIONS - 1), end_offset=1,
                                                  allow_nonexistent_upstream_partitions=True)
NEXT_SESSION = dg.TimeWindowPartitionMapping(start_offset=1, end_offset=1, allow_nonexistent_upstream_partitions=True)


def window_sessions(as_of: dt.date) -> list[dt.date]:
    """The ``WINDOW_SESSIONS`` sessions ending at ``as_of``: exactly the daily partitions ``LOOKBACK`` maps to."""
    return sessions_ending(as_of, WINDOW_SESSIONS)


def partition_days(context: dg.AssetExecutionContext) -> list[dt.date]:
    """Every session a run materializes: one key, or a whole range in a single-run backfill."""
    return [dt.date.fromisoformat(key) for key in context.partition_keys]


def latest_published_day(today: dt.date) -> dt.date:
    """The newest session whose flat files can exist today (a session's files land overnight)."""
    return last_trading_day(today - dt.timedelta(days=1))


def session_after(day: dt.date) -> dt.date:
    """The next NYSE session (its start-of-day open interest is the OI at ``day``'s close)."""
    return next_trading_day(day)
