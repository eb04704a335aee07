"""The pipeline bench: its window, the pandas peer against hand-worked prints and against our own chain, the JSON."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import numpy as np
import polars as pl
import pytest

from spy_gamma.bench import pandas_peer
from spy_gamma.bench.pipeline import bench_window, run_pipeline_bench
from spy_gamma.quant.classify import sign_trades
from spy_gamma.quant.open_close import dealer_sign
from spy_gamma.quant.pairing import pair_with_quotes
from spy_gamma.sources.flatfiles import flatfile_key
from spy_gamma.sources.readers import read_quotes, read_trades
from spy_gamma.sources.simulator import simulate_market

TOLERANCE_NS = 1_000_000_000
T0 = 1_759_498_200_000_000_000  # 2025-10-03 13:30 UTC
CALL, PUT = "O:SPY251006C00670000", "O:SPY251006P00660000"


def write_gz(path, header: str, rows: list[str]):
    path.write_bytes(gzip.compress(("\n".join([header, *rows]) + "\n").encode()))
    return path


def test_window_is_the_last_sessions_before_the_as_of_close():
    assert bench_window(3) == [dt.date(2025, 10, 1), dt.date(2025, 10, 2), dt.date(2025, 10, 3)]
    assert bench_window(2)[0] == dt.date(2025, 10, 2)


def test_peer_positions_on_hand_worked_prints(tmp_path):
    """Call quoted 1.00 x 1.10 (mid 1.05), put 2.00 x 2.20 (mid 2.10), then the call's quote moves to 1.20 x 1.30."""
    quotes = write_gz(tmp_path / "q.csv.gz", "ticker,ask_exchange,ask_price,ask_size,bid_exchange,bid_price,bid_size,"
                      "sequence_number,sip_timestamp", [
                          f"{CALL},300,1.10,10,301,1.00,10,1,{T0}",
                          f"{PUT},300,2.20,10,301,2.00,10,2,{T0}",
                          f"{CALL},300,1.30,10,301,1.20,10,3,{T0 + 5_000_000}"])
    trades = write_gz(tmp_path / "t.csv.gz", "ticker,conditions,correction,exchange,price,sip_timestamp,size", [
        f"{CALL},209,0,300,1.08,{T0 + 1_000_000},10",   # above mid 1.05: customer buys, dealer -10
        f"{CALL},209,0,300,1.05,{T0 + 2_000_000},7",    # at the mid: unsigned, 0
        f"{CALL},229,0,300,1.10,{T0 + 3_000_000},50",   # cross: no dealer, 0
        f"{CALL},209,0,300,1.21,{T0 + 6_000_000},4",    # below the new mid 1.25: customer sells, dealer +4
        f"{PUT},209,0,300,2.19,{T0 + 1_000_000},3",     # above mid 2.10: dealer -3
        f"{PUT},209,1,300,2.00,{T0 + 2_000_000},100",   # corrected print: dropped
        f"{PUT},209,0,300,2.01,{T0 + 3_000_000 + TOLERANCE_NS},2",  # quote 1 s + 3 ms old: unquoted, 0
        f"O:SPYG251006C00080000,209,0,300,0.50,{T0 + 1_000_000},9"])  # another underlying
    positions = pandas_peer.peer_positions([(trades, quotes)], [dt.date(2025, 10, 6)], TOLERANCE_NS)
    assert positions.to_dict("list") == {"ticker": [CALL, PUT], "dealer_position": [-10 + 4, -3]}


@pytest.fixture(scope="module")
def tiny_market(tmp_path_factory):
    """Two simulated sessions (~3,000 trade rows each) in Polygon's layout."""
    root = tmp_path_factory.mktemp("market")
    simulate_market(dt.date(2025, 10, 2), dt.date(2025, 10, 3), root, seed=3, scale=0.0005)
    return root


def test_peer_quote_rule_and_positions_agree_with_ours(tiny_market):
    """Same tape, our polars chain with the quote rule vs the pandas peer: the same side per print and positions."""
    expiries = [dt.date(2025, 10, 3), dt.date(2025, 10, 6), dt.date(2025, 10, 10)]
    days = [(tiny_market / flatfile_key("trades", d), tiny_market / flatfile_key("quotes", d))
            for d in (dt.date(2025, 10, 2), dt.date(2025, 10, 3))]
    ours_flows = []
    for trades_path, quotes_path in days:
        trades = read_trades(trades_path, expiries).frame
        paired = pair_with_quotes(trades, read_quotes(quotes_path, trades["ticker"].unique()), TOLERANCE_NS)
        signed = sign_trades(paired, "quote").with_columns(dealer_sign(pl.col("customer_side"), pl.col("conditions"))
                                                          .alias("dealer_sign"))
        peer = pandas_peer.pair_with_quotes(pandas_peer.read_spy_trades(trades_path, expiries),
                                            pandas_peer.read_quotes(quotes_path, trades["ticker"].unique()), TOLERANCE_NS)
        key = ["ticker", "sip_timestamp", "price", "size", "conditions"]
        peer_sides = pl.from_pandas(peer[key]).with_columns(
            pl.Series("side", pandas_peer.quote_rule_side(peer))).sort(key)["side"]
        assert len(trades) > 200 and signed.sort(key)["customer_side"].to_list() == peer_sides.to_list()
        ours_flows.append(signed.select("ticker", (pl.col("dealer_sign").cast(pl.Int64) * pl.col("size")).alias("flow")))
    ours = pl.concat(ours_flows).group_by("ticker").agg(pl.col("flow").sum()).sort("ticker")
    peer = pandas_peer.peer_positions(days, expiries, TOLERANCE_NS)
    assert peer["ticker"].tolist() == ours["ticker"].to_list()
    assert np.array_equal(peer["dealer_position"].to_numpy(), ours["flow"].to_numpy())
    assert np.abs(ours["flow"].to_numpy()).sum() > 0


@pytest.mark.slow
def test_bench_writes_every_field(tmp_path):
    """Two tiny sessions through the whole bench: the issue's fields, the rows it really read, a morning run that
    rebuilt one session only, and a peer that positioned contracts."""
    json_path = tmp_path / "pipeline.json"
    run_pipeline_bench(days=2, rows_per_day=20_000, json_path=json_path, data_dir=tmp_path)
    written = json.loads(json_path.read_text())
    for field in ("morning_run_s", "end_to_end_s", "peer_over_ours", "ingest_over_floor", "dashboard_render_ms"):
        assert written[field] is not None and written[field] > 0, field
    market = tmp_path / "bench" / "flatfiles" / "opra_20000r_seed7"
    rows = sum(len(gzip.decompress(path.read_bytes()).splitlines()) - 1
               for path in market.rglob("*.csv.gz") if "/trades_v1/" in str(path))
    assert written["trade_rows"] == rows > 10_000
    daily_runs = [run for run in written["morning_runs"] if run["job"] == "daily_sessions"]
    assert [run["partitions"] for run in daily_runs] == [["2025-10-03"]]
    assert written["peer_contracts"] > 10 and written["peak_rss_mb"] > 50
    assert json_path.with_suffix(".md").read_text().startswith("| measure | value |")
