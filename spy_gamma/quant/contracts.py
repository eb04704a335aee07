"""OCC option tickers as Polygon writes them: ``O:`` + root + YYMMDD + C/P + strike x1000 (8 digits)."""

from __future__ import annotations

import datetime as dt

import polars as pl

ROOT = "SPY"
MULTIPLIER = 100
TICKER_PATTERN = r"^O:([A-Z]{1,6})(\d{6})([CP])(\d{8})$"
SPY_PATTERN = r"^O:SPY\d{6}[CP]\d{8}$"


def occ_ticker(expiry: dt.date, right: str, strike: float, root: str = ROOT) -> str:
    """Build ``O:SPY251010C00670000`` from its parts (strike in dollars, rounded to 1/1000)."""
    return f"O:{root}{expiry:%y%m%d}{right}{round(strike * 1000):08d}"


def is_spy_option(ticker: pl.Expr) -> pl.Expr:
    """True only for root exactly SPY: ``O:SPYI...`` and ``O:SPYG...`` are other underlyings."""
    return ticker.str.contains(SPY_PATTERN)


def parse_tickers(ticker: pl.Expr) -> list[pl.Expr]:
    """Columns ``root, expiry, right, strike`` parsed strictly from an option ticker expression."""
    parts = ticker.str.extract_groups(TICKER_PATTERN)
    return [
        parts.struct.field("1").alias("root"),
        parts.struct.field("2").str.strptime(pl.Date, "%y%m%d", strict=False).alias("expiry"),
        parts.struct.field("3").alias("right"),
        (parts.struct.field("4").cast(pl.Int64, strict=False) / 1000.0).alias("strike"),
    ]


def with_contract_fields(frame: pl.DataFrame | pl.LazyFrame, column: str = "ticker"):
    """Append ``expiry, right, strike`` (and drop the parsed ``root``) to a frame of option tickers."""
    return frame.with_columns(parse_tickers(pl.col(column))).drop("root")


def ticker_expr(expiry: pl.Expr, right: pl.Expr, strike: pl.Expr, root: str = ROOT) -> pl.Expr:
    """Vectorized :func:`occ_ticker` over expiry (Date), right (C/P) and strike (dollars) columns."""
    strike_code = (strike * 1000).round(0).cast(pl.Int64).cast(pl.String).str.zfill(8)
    return pl.concat_str(pl.lit(f"O:{root}"), expiry.dt.strftime("%y%m%d"), right, strike_code)
