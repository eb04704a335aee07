"""PolygonRestClient over real HTTP against the local Polygon stand-in (polygon_server.py)."""

from __future__ import annotations

import logging
from datetime import date

import numpy as np
import polars as pl
import pytest

from spy_gamma.sources.errors import SourceError
from spy_gamma.sources.polygon_rest import PolygonRestClient, plan_quote_requests
from spy_gamma_tests.sources.polygon_server import PolygonServer

pytestmark = pytest.mark.slow  # local HTTP server

KEY = "pk_test_PLANTED-SECRET-0123456789"
CALL = "O:SPY251010C00670000"
PUT = "O:SPY251010P00660000"
OPEN_NS = 1_760_103_000_000_000_000  # 2025-10-10 13:30:00 UTC = 09:30 ET


def quote_table(seed: int = 7, per_ticker: int = 2500) -> list[dict]:
    """Quotes every ~0.1-0.5 s for two contracts, with a few equal timestamps (told apart by sequence)."""
    rng = np.random.default_rng(seed)
    rows = []
    for ticker in (CALL, PUT):
        stamps = OPEN_NS + np.cumsum(rng.integers(0, 500_000_000, per_ticker))
        bids = np.round(rng.uniform(1, 5, per_ticker), 2)
        for i, (ts, bid) in enumerate(zip(stamps.tolist(), bids.tolist())):
            rows.append({"ticker": ticker, "sip_timestamp": ts, "participant_timestamp": ts - 1000,
                         "sequence_number": 10 * i, "bid_price": bid, "ask_price": round(bid + 0.05, 2),
                         "bid_size": int(rng.integers(1, 50)), "ask_size": float(rng.integers(1, 50)),
                         "bid_exchange": 300 + i % 20, "ask_exchange": 301 + i % 20})
    return rows


@pytest.fixture
def table() -> pl.DataFrame:
    return pl.DataFrame(quote_table())


def client_for(server: PolygonServer, cache_dir=None, api_key: str = KEY, **kwargs) -> PolygonRestClient:
    options = {"max_rps": 1000.0, "backoff_s": 0.01, "concurrency": 4} | kwargs
    return PolygonRestClient(api_key=api_key, base_url=server.base_url, cache_dir=cache_dir, **options)


def expected_window(table: pl.DataFrame, ticker: str, gte: int, lte: int) -> pl.DataFrame:
    """Independent answer: a plain filter and sort of the server's table."""
    return (table.filter((pl.col("ticker") == ticker) & pl.col("sip_timestamp").is_between(gte, lte))
            .sort("sip_timestamp", "sequence_number"))


def test_quotes_pages_through_faults_and_rerun_hits_only_the_cache(table, tmp_path):
    gte, lte = OPEN_NS + 10**11, OPEN_NS + 6 * 10**11  # 100 s .. 600 s after the open
    expected = expected_window(table, CALL, gte, lte)
    assert expected.height > 1500  # four 500-row pages at least
    with PolygonServer(KEY, table.to_dicts(), faults={2: 429, 4: 500}, max_limit=500) as server:
        quotes = client_for(server, tmp_path).quotes(CALL, gte, lte)
        pages = -(-expected.height // 500)
        assert server.request_count == pages + 2  # every page once, plus the two injected faults
        assert quotes.columns == ["ticker", "sip_timestamp", "bid_price", "bid_size", "ask_price", "ask_size",
                                  "bid_exchange", "ask_exchange", "sequence_number"]
        assert quotes.select("sip_timestamp", "sequence_number", "bid_price", "ask_size").equals(
            expected.select("sip_timestamp", "sequence_number", "bid_price",
                            pl.col("ask_size").cast(pl.Int64)))
        assert quotes["ask_size"].dtype == pl.Int64 and quotes["bid_exchange"].dtype == pl.Int32

        again = client_for(server, tmp_path).quotes(CALL, gte, lte)
        assert server.request_count == pages + 2  # re-run: cache only
        assert again.equals(quotes)
        assert all(h["authorization"] == f"Bearer {KEY}" for h in server.headers_seen)
        assert not any("apikey" in path.lower() for path in server.paths)


def test_prevailing_quote_is_last_at_or_before(table):
    calls = table.filter(pl.col("ticker") == CALL).sort("sip_timestamp", "sequence_number")
    at = int(calls["sip_timestamp"][700])  # exactly on a quote: that quote prevails (timestamp.lte)
    between = at + 1
    with PolygonServer(KEY, table.to_dicts()) as server:
        client = client_for(server)
        for ts in (at, between):
            quote = client.prevailing_quote(CALL, ts)
            truth = calls.filter(pl.col("sip_timestamp") <= ts).tail(1)
            assert quote["sequence_number"].to_list() == truth["sequence_number"].to_list()
        assert client.prevailing_quote(CALL, OPEN_NS - 1).height == 0
        assert server.request_count == 3


def test_timeouts_are_retried(table):
    with PolygonServer(KEY, table.to_dicts(), stalls={1}, stall_s=0.6) as server:
        quote = client_for(server, timeout=0.2).prevailing_quote(PUT, OPEN_NS + 10**10)
        assert quote.height == 1 and server.request_count == 2


def test_wrong_key_is_a_clear_error_without_the_key(table, caplog):
    wrong = "pk_WRONG-planted-secret-987"
    with (PolygonServer(KEY, table.to_dicts()) as server, caplog.at_level(logging.DEBUG),
          pytest.raises(SourceError, match="401.*API key is wrong") as raised):
        client_for(server, api_key=wrong).prevailing_quote(CALL, OPEN_NS)
    assert wrong not in str(raised.value) and wrong not in repr(raised.value)
    assert wrong not in caplog.text


def test_persistent_throttling_gives_up_with_a_clear_error(table):
    faults = dict.fromkeys(range(1, 10), 503)
    with PolygonServer(KEY, table.to_dicts(), faults=faults) as server, pytest.raises(
            SourceError, match="HTTP 503.*after 3 attempts"):
        client_for(server, max_attempts=3).prevailing_quote(CALL, OPEN_NS + 10**10)
    assert server.request_count == 3


def test_planted_key_never_leaks_to_logs_errors_or_cache(table, tmp_path, caplog):
    trades = pl.DataFrame({"ticker": [CALL] * 3, "sip_timestamp": [OPEN_NS + k * 60 * 10**9 for k in (1, 2, 3)]})
    with PolygonServer(KEY, table.to_dicts(), faults={1: 429, 2: 500}) as server, caplog.at_level(logging.DEBUG):
        client = client_for(server, tmp_path)
        client.quotes_for_trades(trades)
        client.quotes(PUT, OPEN_NS, OPEN_NS + 10**12)
    assert "retry" in caplog.text  # the faults were logged...
    assert KEY not in caplog.text  # ...without the key
    assert KEY not in repr(client)
    cached = list(tmp_path.rglob("*"))
    assert any(path.suffix == ".json" for path in cached)
    assert all(KEY not in path.read_text() for path in cached if path.is_file())
    assert not any(path.suffix == ".tmp" for path in cached)  # atomic writes left no scratch files


def test_planner_points_for_sparse_trades_sweeps_for_dense(table):
    sparse = [OPEN_NS + k * 30 * 10**9 for k in range(1, 6)]  # 5 trades 30 s apart: 5 windows
    dense = [OPEN_NS + 4 * 10**11 + k * 50_000_000 for k in range(12)]  # 12 trades in 0.55 s: 1 window
    trades = pl.DataFrame({"ticker": [CALL] * 5 + [PUT] * 12, "sip_timestamp": sparse + dense})
    plan = plan_quote_requests(trades)
    # CALL: points cost 5, sweeps 5 windows x (1 look-up + 1 page) = 10 -> points.
    # PUT: points cost 12, sweeps 1 window x 2 = 2 -> sweep over [first - 1 s, last + 1 s].
    assert plan.filter(pl.col("ticker") == CALL)["method"].to_list() == ["point"] * 5
    sweep = plan.filter(pl.col("ticker") == PUT)
    assert sweep.select("method", "gte_ns", "lte_ns").rows() == [("sweep", dense[0] - 10**9, dense[-1] + 10**9)]

    with PolygonServer(KEY, table.to_dicts()) as server:
        quotes = client_for(server).quotes_for_trades(trades)
        assert server.request_count == 5 + 2
    for ticker, stamps in ((CALL, sparse), (PUT, dense)):
        book = table.filter(pl.col("ticker") == ticker).sort("sip_timestamp", "sequence_number")
        got = set(quotes.filter(pl.col("ticker") == ticker)["sequence_number"].to_list())
        for ts in stamps:  # every trade's prevailing quote is there
            assert book.filter(pl.col("sip_timestamp") <= ts)["sequence_number"][-1] in got
    window = expected_window(table, PUT, dense[0] - 10**9, dense[-1] + 10**9)
    assert set(window["sequence_number"]) <= set(quotes.filter(pl.col("ticker") == PUT)["sequence_number"])
    assert quotes.select(pl.struct("ticker", "sip_timestamp", "sequence_number").is_unique().all()).item()


def test_planner_splits_contract_days_by_new_york_date():
    late = 1_760_140_800_000_000_000 - 10**9  # 2025-10-10 23:59:59 UTC = 19:59:59 ET, same NY day
    trades = pl.DataFrame({"ticker": [CALL, CALL], "sip_timestamp": [late, late + 5 * 3600 * 10**9]})
    plan = plan_quote_requests(trades)  # second trade: 2025-10-11 00:59:59 ET, a new day
    assert plan["method"].to_list() == ["point", "point"]


def test_open_interest_reads_pages_and_keeps_only_root_spy():
    rows = [{"ticker": t, "root": "SPY", "date": "2025-10-09", "open_interest": oi}
            for t, oi in ((CALL, 1200), (PUT, 800), ("O:SPY251017C00680000", 55))]
    rows += [{"ticker": "O:SPYI251010C00050000", "root": "SPY", "date": "2025-10-09", "open_interest": 9},
             {"ticker": CALL, "root": "SPY", "date": "2025-10-08", "open_interest": 1000}]
    with PolygonServer(KEY, open_interest=rows, max_limit=2) as server:
        oi = client_for(server).open_interest(date(2025, 10, 9))
        assert server.request_count == 2  # 4 rows of that date, 2 per page
    assert oi.columns == ["ticker", "expiry", "right", "strike", "open_interest"]
    assert oi.select("ticker", "open_interest").rows() == [
        (CALL, 1200), (PUT, 800), ("O:SPY251017C00680000", 55)]
    assert oi.filter(pl.col("ticker") == PUT).select("expiry", "right", "strike").row(0) == (
        date(2025, 10, 10), "P", 660.0)


def test_api_key_comes_from_the_environment(monkeypatch, table):
    monkeypatch.setenv("POLYGON_API_KEY", KEY)
    with PolygonServer(KEY, table.to_dicts()) as server:
        assert PolygonRestClient(base_url=server.base_url).prevailing_quote(CALL, OPEN_NS + 10**10).height == 1
    monkeypatch.delenv("POLYGON_API_KEY")
    with pytest.raises(SourceError, match="POLYGON_API_KEY"):
        PolygonRestClient()
