"""Reader for Cboe LiveVol (DataShop) "Option Trades" files: every print with the NBBO at trade time.

Rows carry a variable-length per-exchange quote group, so the file is read with the csv module and turned into
the paired-trade frame that :func:`spy_gamma.quant.classify.sign_trades` takes.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import polars as pl

from spy_gamma.quant.contracts import occ_ticker
from spy_gamma.quant.pairing import quote_state

EXCHANGE_GROUP_COLUMN = "number_of_exchanges"  # followed by repeated {exchange, bid_size, bid, ask_size, ask} groups
EXCHANGE_GROUP_WIDTH = 5
LIVEVOL_TIMEZONE = "America/New_York"


def _nbbo_sizes(exchange_groups: list[str], best_bid: float, best_ask: float) -> tuple[int, int]:
    """Bid and ask sizes at the NBBO: the sum over exchanges quoting at the best price."""
    bid_size = ask_size = 0
    for start in range(0, len(exchange_groups) - EXCHANGE_GROUP_WIDTH + 1, EXCHANGE_GROUP_WIDTH):
        _, group_bid_size, group_bid, group_ask_size, group_ask = exchange_groups[start:start + EXCHANGE_GROUP_WIDTH]
        bid_size += int(group_bid_size) if float(group_bid) == best_bid else 0
        ask_size += int(group_ask_size) if float(group_ask) == best_ask else 0
    return bid_size, ask_size


def _record(header: list[str], row: list[str]) -> dict:
    """One trade in the paired-trade shape (LiveVol's own condition id kept apart from OPRA ids)."""
    groups_start = header.index(EXCHANGE_GROUP_COLUMN) + 1
    field = dict(zip(header[:groups_start], row))
    best_bid, best_ask = float(field["best_bid"]), float(field["best_ask"])
    bid_size, ask_size = _nbbo_sizes(row[groups_start:], best_bid, best_ask)
    return {
        "ticker": occ_ticker(dt.date.fromisoformat(field["expiration"]), field["option_type"],
                             float(field["strike"]), root=field["root"]),
        "quote_datetime": field["quote_datetime"],
        "sequence_number": int(field["sequence_number"]),
        "price": float(field["trade_price"]),
        "size": int(field["trade_size"]),
        "livevol_condition_id": int(field["trade_condition_id"]),
        "bid_price": best_bid,
        "ask_price": best_ask,
        "bid_size": bid_size,
        "ask_size": ask_size,
    }


def read_livevol_trades(path: str | Path) -> pl.DataFrame:
    """Trades sorted by ticker and time with ``sip_timestamp`` (ns UTC), NBBO, ``quote_age_ns`` = 0, ``quote_state``.

    ``conditions`` is null: LiveVol's ``trade_condition_id`` codes are not OPRA ids and stay in
    ``livevol_condition_id``.
    """
    with open(path, newline="") as handle:
        header, *rows = list(csv.reader(handle))
    records = [_record(header, row) for row in rows if row]
    local_time = pl.col("quote_datetime").str.strptime(pl.Datetime("ns"), "%Y-%m-%d %H:%M:%S%.f")
    return (
        pl.DataFrame(records)
        .with_columns(
            local_time.dt.replace_time_zone(LIVEVOL_TIMEZONE).dt.convert_time_zone("UTC").cast(pl.Int64)
            .alias("sip_timestamp"),
            pl.lit(None, dtype=pl.Int32).alias("conditions"),
            pl.lit(0, dtype=pl.Int64).alias("quote_age_ns"),
            quote_state(pl.col("bid_price"), pl.col("ask_price")).alias("quote_state"),
        )
        .drop("quote_datetime")
        .sort("ticker", "sip_timestamp", "sequence_number")
    )
