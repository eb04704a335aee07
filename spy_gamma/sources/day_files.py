"""What one trading day needs from a source: a required file, and the day's NBBO quotes from wherever they exist."""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from spy_gamma.sources.errors import SourceError
from spy_gamma.sources.readers import QUOTES_SCHEMA
from spy_gamma.sources.spy_lines import read_spy_quotes_counted
from spy_gamma.trading_calendar import is_trading_day

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DayQuotes:
    """The quotes of one day, where they came from (``flatfile``, ``rest`` or ``none``), REST requests sent, and
    the rows dropped as non-finite or implausible."""

    frame: pl.DataFrame
    origin: str
    requests: int = 0
    dropped_non_finite: int = 0
    dropped_implausible: int = 0


def require(source, kind: str, day: dt.date) -> Path:
    """The day's file of a kind, or an error naming where it was looked for and why it can be missing.

    A holiday has no files by design (and is not a partition); a trading day without one is not published yet.
    """
    path = source.fetch(kind, day)
    if path is not None:
        return path
    where = source.location(kind, day)
    if not is_trading_day(day):
        raise SourceError(f"{where}: {day} is not an NYSE trading day (weekend or holiday), so no {kind} file "
                          "exists for it")
    raise SourceError(f"{where}: no {kind} flat file for trading day {day}: not published yet (Polygon "
                      "publishes a session's files overnight), or --flatfiles / --source points elsewhere")


def quotes_for_day(source, day: dt.date, trades: pl.DataFrame, rest_cache: Path | None = None) -> DayQuotes:
    """Quotes of the traded contracts: the quote flat file, else REST v3 when a key is set, else none.

    Never synthesizes quotes: a day with no quote source is left unquoted and classification says so.
    """
    tickers = trades["ticker"].unique().to_list()
    path = source.fetch("quotes", day)
    if path is not None:
        read = read_spy_quotes_counted(path, tickers)
        return DayQuotes(read.frame.select(list(QUOTES_SCHEMA)).cast(QUOTES_SCHEMA), "flatfile",
                         dropped_non_finite=read.dropped_non_finite, dropped_implausible=read.dropped_implausible)
    if os.environ.get("POLYGON_API_KEY") and len(trades):
        from spy_gamma.sources.polygon_rest import PolygonRestClient

        client = PolygonRestClient(cache_dir=rest_cache)
        quotes = client.quotes_for_trades(trades).select(list(QUOTES_SCHEMA)).cast(QUOTES_SCHEMA)
        return DayQuotes(quotes, "rest", client.requests_sent)
    log.warning("%s: no quote flat file and no POLYGON_API_KEY for REST v3: the %d trades of %s stay "
                "unquoted", source.location("quotes", day), len(trades), day)
    return DayQuotes(pl.DataFrame(schema=QUOTES_SCHEMA), "none")
