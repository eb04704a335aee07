"""Readers for Cboe "delayed quotes" SPY chain snapshots (CSV page export and cdn.cboe.com JSON).

Both return one tidy row per contract: ``ticker, expiry, strike, right, bid, ask, last, volume, iv, delta,
gamma, open_interest, spot, snapshot`` (the JSON adds Cboe's ``theo, theta, vega, rho``). ``iv`` and the
Greeks are Cboe's own figures, ``open_interest`` is OCC's as of the start of the snapshot day, ``snapshot``
is the page time in America/New_York. Layout: ``realdata/cboe_delayed_quotes_chains/SOURCE.txt``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from spy_gamma.quant.contracts import with_contract_fields

NEW_YORK = "America/New_York"
_SIDE_FIELDS = ("last", "net", "bid", "ask", "volume", "iv", "delta", "gamma", "open_interest")
_CSV_COLUMNS = ["expiration", "call", *(f"call_{f}" for f in _SIDE_FIELDS), "strike_text",
                "put", *(f"put_{f}" for f in _SIDE_FIELDS)]
_TEXT_COLUMNS = ("expiration", "call", "put", "strike_text")
_CHAIN_COLUMNS = ["ticker", "expiry", "strike", "right", "bid", "ask", "last", "volume", "iv", "delta", "gamma",
                  "open_interest", "spot", "snapshot"]


def read_cboe_chain(path: Path) -> pl.DataFrame:
    """Read a Cboe chain snapshot, CSV or JSON by file suffix."""
    path = Path(path)
    return read_cboe_json(path) if path.suffix == ".json" else read_cboe_csv(path)


def _csv_snapshot(date_line: str) -> dt.datetime:
    """'"Date: September 14, 2023 at 4:31 PM EDT",Bid: ...' (or '5:28 p.m.') -> aware datetime in New York."""
    stamp = re.search(r"Date: ([A-Za-z]+ \d{1,2}, \d{4} at \d{1,2}:\d{2} [AaPp]\.?[Mm]\.?)", date_line).group(1)
    return dt.datetime.strptime(stamp.replace(".", "").upper(), "%B %d, %Y AT %I:%M %p").replace(
        tzinfo=ZoneInfo(NEW_YORK))


def _csv_spot(name_line: str) -> float:
    """'SPDR S&P 500 ETF Trust,Last: 450.81,Change: 3.85' -> 450.81."""
    return float(re.search(r"Last:\s*([\d.]+)", name_line).group(1))


def read_cboe_csv(path: Path) -> pl.DataFrame:
    """Cboe page CSV export: 3 preamble lines (name/last, date/underlying quote) then call|strike|put rows."""
    with open(path, encoding="utf-8") as lines:
        preamble = [next(lines) for _ in range(3)]
    schema = {name: pl.String if name in _TEXT_COLUMNS else pl.Float64 for name in _CSV_COLUMNS}
    wide = pl.read_csv(path, skip_rows=4, has_header=False, new_columns=_CSV_COLUMNS, schema_overrides=schema)
    sides = [
        wide.select(pl.col(side).alias("ticker"),
                    *(pl.col(f"{side}_{field}").alias(field) for field in _SIDE_FIELDS if field != "net"))
        for side in ("call", "put")
    ]
    snapshot = _csv_snapshot(preamble[2])
    return _tidy(pl.concat(sides), spot=_csv_spot(preamble[1]), snapshot=snapshot)


def read_cboe_json(path: Path) -> pl.DataFrame:
    """cdn.cboe.com delayed-quotes JSON: ``data.options`` per contract plus the underlying's ``current_price``.

    The top-level ``timestamp`` carries no zone; it is read as New York time like the file's trade times.
    """
    payload = json.loads(Path(path).read_text(encoding="utf-8"))
    options = pl.DataFrame(payload["data"]["options"]).select(
        pl.col("option").alias("ticker"), "bid", "ask", pl.col("last_trade_price").alias("last"), "volume", "iv",
        "delta", "gamma", "open_interest", "theo", "theta", "vega", "rho")
    snapshot = dt.datetime.fromisoformat(payload["timestamp"]).replace(tzinfo=ZoneInfo(NEW_YORK))
    return _tidy(options, spot=float(payload["data"]["current_price"]), snapshot=snapshot)


def _tidy(contracts: pl.DataFrame, spot: float, snapshot: dt.datetime) -> pl.DataFrame:
    """Polygon-style ``O:`` tickers, parsed expiry/right/strike, typed columns, spot and snapshot time."""
    floats = ("bid", "ask", "last", "iv", "delta", "gamma")
    chain = with_contract_fields(
        contracts.with_columns(
            ("O:" + pl.col("ticker").str.strip_chars()).alias("ticker"),
            *(pl.col(name).cast(pl.Float64) for name in floats),
            pl.col("volume").cast(pl.Float64).cast(pl.Int64),
            pl.col("open_interest").cast(pl.Float64).cast(pl.Int64),
            pl.lit(spot).alias("spot"),
            pl.lit(snapshot).dt.convert_time_zone(NEW_YORK).alias("snapshot"),
        )
    )
    extras = [name for name in chain.columns if name not in _CHAIN_COLUMNS]
    return chain.select(*_CHAIN_COLUMNS, *extras).sort("expiry", "strike", "right")
