"""SPY's ex-dividend table (``spy_gamma/data/spy_ex_dividends.csv``: sources and precision in its header)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from spy_gamma.sources.errors import DataError

EX_DIVIDENDS_CSV = Path(__file__).resolve().parents[1] / "data" / "spy_ex_dividends.csv"
STATUSES = ("published", "estimated")
SCHEMA = {"ex_date": pl.Date, "amount": pl.Float64, "status": pl.String}


def read_ex_dividends(path: Path = EX_DIVIDENDS_CSV) -> pl.DataFrame:
    """``ex_date, amount ($ per share), status (published / estimated)``, one row per ex-date, in date order.

    Raises DataError on a malformed table: unparsable rows, a non-positive amount, an unknown status, a
    repeated or out-of-order date.
    """
    try:
        table = pl.read_csv(path, comment_prefix="#", schema=SCHEMA)
    except pl.exceptions.PolarsError as error:
        raise DataError(path, f"not an ex-dividend table: {error}") from error
    problems = {"amount": ~(table["amount"] > 0), "status": ~table["status"].is_in(STATUSES),
                "ex_date": table["ex_date"].is_null() | ~(table["ex_date"].diff().dt.total_days().fill_null(1) > 0)}
    for field, bad in problems.items():
        if bad.fill_null(True).any():
            row = int(bad.fill_null(True).arg_max())
            raise DataError(path, f"bad value {table[field][row]!r} in data row {row + 1}", field=field)
    return table
