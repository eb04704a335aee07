"""Polygon/Massive WebSocket message shapes: flat-file rows to ``T``/``Q``/``AM`` events and events back to frames.

Trades ``{"ev":"T","sym","x","p","s","c":[...],"t","q"}``, quotes ``{"ev":"Q","sym","bx","bp","bs","ax","ap","as",
"t","q"}``, minute aggregates ``{"ev":"AM","sym":"SPY","o","h","l","c","v","s","e"}``, status messages
``{"ev":"status","status":...,"message":...}``. Polygon stamps options events in milliseconds; :func:`to_ns` reads
milliseconds or nanoseconds by magnitude, so the replay can keep the flat files' nanoseconds (exact reconciliation)
and a real millisecond feed reads the same way.
"""

from __future__ import annotations

import polars as pl

from spy_gamma.quant.contracts import with_contract_fields

NS_THRESHOLD = 10 ** 17  # epoch values above this are nanoseconds (ms epochs are ~1.7e12)
MS = 1_000_000
TRADE_COLUMNS = {"ticker": pl.String, "sip_timestamp": pl.Int64, "price": pl.Float64, "size": pl.Int64,
                 "exchange": pl.Int32, "conditions": pl.Int32, "sequence": pl.Int64}
QUOTE_COLUMNS = {"ticker": pl.String, "sip_timestamp": pl.Int64, "bid_price": pl.Float64, "bid_size": pl.Int64,
                 "ask_price": pl.Float64, "ask_size": pl.Int64, "bid_exchange": pl.Int32, "ask_exchange": pl.Int32,
                 "sequence_number": pl.Int64}
BAR_COLUMNS = {"window_start": pl.Int64, "open": pl.Float64, "high": pl.Float64, "low": pl.Float64,
               "close": pl.Float64, "volume": pl.Int64}


def status(state: str, message: str) -> dict:
    """A status event as Polygon sends it (``connected``, ``auth_success``, ``auth_failed``, ``success``...)."""
    return {"ev": "status", "status": state, "message": message}


def trade_events(trades: pl.DataFrame) -> list[dict]:
    """``T`` events of flat-file trades (``sequence``: the print's row in the day's file, its unique id)."""
    return [{"ev": "T", "sym": r[0], "x": r[1], "p": r[2], "s": r[3], "c": [r[4]], "t": r[5], "q": r[6]}
            for r in trades.select("ticker", "exchange", "price", "size", "conditions", "sip_timestamp",
                                   "sequence").iter_rows()]


def quote_events(quotes: pl.DataFrame) -> list[dict]:
    """``Q`` events of flat-file quotes."""
    return [{"ev": "Q", "sym": r[0], "bx": r[1], "bp": r[2], "bs": r[3], "ax": r[4], "ap": r[5], "as": r[6],
             "t": r[7], "q": r[8]}
            for r in quotes.select("ticker", "bid_exchange", "bid_price", "bid_size", "ask_exchange", "ask_price",
                                   "ask_size", "sip_timestamp", "sequence_number").iter_rows()]


def bar_events(bars: pl.DataFrame, symbol: str = "SPY") -> list[dict]:
    """``AM`` (minute aggregate) events of minute bars; ``s``/``e`` are the window's start and end in ms."""
    return [{"ev": "AM", "sym": symbol, "o": r[1], "h": r[2], "l": r[3], "c": r[4], "v": r[5], "s": r[0] // MS,
             "e": r[0] // MS + 60_000}
            for r in bars.select("window_start", "open", "high", "low", "close", "volume").iter_rows()]


def to_ns(stamp: int) -> int:
    """Epoch nanoseconds of a Polygon timestamp given in milliseconds or nanoseconds."""
    return stamp if stamp > NS_THRESHOLD else stamp * MS


def trades_frame(events: list[dict]) -> pl.DataFrame:
    """``T`` events as trades (``TRADE_COLUMNS`` plus ``expiry, right, strike``); the first condition code kept,
    as in the flat files' single ``conditions`` column."""
    rows = {"ticker": [e["sym"] for e in events], "sip_timestamp": [to_ns(e["t"]) for e in events],
            "price": [e["p"] for e in events], "size": [e["s"] for e in events], "exchange": [e["x"] for e in events],
            "conditions": [(e.get("c") or [0])[0] for e in events], "sequence": [e.get("q", 0) for e in events]}
    return with_contract_fields(pl.DataFrame(rows, schema=TRADE_COLUMNS))


def quotes_frame(events: list[dict]) -> pl.DataFrame:
    """``Q`` events as quotes (the ``spy_quotes`` schema)."""
    rows = {"ticker": [e["sym"] for e in events], "sip_timestamp": [to_ns(e["t"]) for e in events],
            "bid_price": [e["bp"] for e in events], "bid_size": [e["bs"] for e in events],
            "ask_price": [e["ap"] for e in events], "ask_size": [e["as"] for e in events],
            "bid_exchange": [e["bx"] for e in events], "ask_exchange": [e["ax"] for e in events],
            "sequence_number": [e.get("q", 0) for e in events]}
    return pl.DataFrame(rows, schema=QUOTE_COLUMNS)


def bars_frame(events: list[dict]) -> pl.DataFrame:
    """``A``/``AM`` events as minute bars (``window_start`` ns)."""
    rows = {"window_start": [to_ns(e["s"]) for e in events], "open": [e["o"] for e in events],
            "high": [e["h"] for e in events], "low": [e["l"] for e in events], "close": [e["c"] for e in events],
            "volume": [e.get("v", 0) for e in events]}
    return pl.DataFrame(rows, schema=BAR_COLUMNS)
