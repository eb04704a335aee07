"""Daily partitions over NYSE trading days (weekends and exchange holidays excluded)."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from spy_gamma.trading_calendar import last_trading_day, weekday_holidays

PARTITIONS_START = dt.date(2025, 6, 2)
_HOLIDAYS_UNTIL = dt.date(2027, 12, 31)

trading_days = dg.DailyPartitionsDefinition(
    start_date=PARTITIONS_START.isoformat(),
    timezone="America/New_York",
    end_offset=0,
    exclusions=["0 0 * * 6", "0 0 * * 0"]
    + [dt.datetime.combine(d, dt.time()) for d in weekday_holidays(PARTITIONS_START, _HOLIDAYS_UNTIL)],
)


def partition_day(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> dt.date:
    """The trading day a partitioned run materializes."""
    return dt.date.fromisoformat(context.partition_key)


def latest_published_day(today: dt.date) -> dt.date:
    """The newest session whose flat files can exist today (the previous session's files land overnight)."""
    return last_trading_day(today - dt.timedelta(days=1))
