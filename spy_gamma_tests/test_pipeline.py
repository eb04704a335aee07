"""End to end on the simulated market: the outputs of ARCHITECTURE §5 against values computed independently from
the simulator's truth and from the lake, by code written here rather than the product's."""

import csv
import datetime as dt
import json
import math

import numpy as np
import polars as pl
import pytest

pytestmark = pytest.mark.slow

AS_OF = dt.date(2025, 10, 3)
TARGETS = [dt.date(2025, 10, 6), dt.date(2025, 10, 8), dt.date(2025, 10, 10)]
OUTPUTS = ["dashboard.html", "gamma_profile.html", "greeks_panel.html", "volatility_smile.html", "gamma_surface.html",
           "executive_summary.md", "comprehensive_report.md", "analysis_summary.json", "dealer_positions.csv",
           "exposures_by_strike.csv", "gamma_profile.csv"]


def header(path) -> list[str]:
    with open(path) as handle:
        return next(csv.reader(handle))


def summary_of(run) -> dict:
    return json.loads((run["out"] / "analysis_summary.json").read_text())


def lake(run):
    from spy_gamma.lake import Lake

    return Lake(run["data"])


def test_every_output_file_is_written_with_the_contracts_columns(pipeline_run):
    out = pipeline_run["out"]
    assert [name for name in OUTPUTS if not (out / name).exists()] == []
    assert header(out / "dealer_positions.csv")[:10] == [
        "ticker", "expiry", "strike", "right", "dealer_position", "customer_buy_open", "customer_sell_open",
        "customer_buy_close", "customer_sell_close", "open_interest"]
    assert header(out / "exposures_by_strike.csv")[:10] == [
        "expiry", "strike", "call_gex", "put_gex", "net_gex", "dex", "vex", "cex", "iv_call", "iv_put"]
    assert header(out / "gamma_profile.csv")[:2] == ["spot", "total_gex"]


def test_summary_states_the_as_of_close_its_expiries_and_bands(pipeline_run):
    summary = summary_of(pipeline_run)
    assert summary["analysis_date"] == "2025-10-05" and summary["as_of"] == "2025-10-03"  # Sunday -> Friday
    assert summary["expiries"] == [d.isoformat() for d in TARGETS]
    band = summary["total_gex_band"]
    assert band["p05"] <= band["p50"] <= band["p95"]
    assert 0.0 <= summary["prob_dealers_long_gamma"] <= 1.0
    straddles = band["p05"] < 0 < band["p95"]
    assert summary["regime"]["label"].startswith("uncertain") == straddles


def test_spot_is_the_regular_session_close_not_the_last_after_hours_bar(pipeline_run):
    market = json.loads((pipeline_run["truth"] / "market.json").read_text())
    close = dict(zip(market["sessions"], market["spot_close"]))[AS_OF.isoformat()]
    bars = lake(pipeline_run).read("spy_spot", AS_OF)
    assert summary_of(pipeline_run)["spot"] == pytest.approx(close, abs=0.005)
    assert bars["close"][-1] != pytest.approx(close, abs=0.005)  # the file's last bar is an after-hours print


def test_max_pain_is_the_strike_of_least_intrinsic_value_on_the_true_open_interest(pipeline_run):
    # OI at the as-of close = the truth's open interest at that close; pain worked out by brute force here
    truth = pl.read_parquet(pipeline_run["truth"] / "positions" / f"{AS_OF}.parquet")
    summary = summary_of(pipeline_run)
    for expiry in TARGETS:
        contracts = truth.filter((pl.col("expiry") == expiry) & (pl.col("open_interest") > 0)).to_dicts()
        strikes = sorted({c["strike"] for c in contracts})
        pain = {s: sum(c["open_interest"] * 100 * max(0.0, (s - c["strike"]) if c["right"] == "C" else
                                                     (c["strike"] - s)) for c in contracts) for s in strikes}
        assert summary["max_pain"][expiry.isoformat()] == min(strikes, key=lambda s: (pain[s], s))


def test_total_gex_is_the_sum_of_each_contracts_gamma_dollars(pipeline_run):
    # gex = position x 100 x gamma x S^2 x 1%, gamma re-derived here by a central finite difference of BSM delta
    from scipy.stats import norm

    exposures = lake(pipeline_run).read("dealer_exposures", AS_OF)
    spot, r = summary_of(pipeline_run)["spot"], 0.043

    def delta(s, row):
        t, q = row["tte_years"], row["carry_q"]
        d1 = (math.log(s / row["strike"]) + (r - q + row["iv"] ** 2 / 2) * t) / (row["iv"] * math.sqrt(t))
        return math.exp(-q * t) * (norm.cdf(d1) if row["right"] == "C" else norm.cdf(d1) - 1)

    h = 0.01
    total = sum(row["dealer_position"] * 100 * (delta(spot + h, row) - delta(spot - h, row)) / (2 * h) * spot ** 2 * 0.01
                for row in exposures.to_dicts() if row["dealer_position"] and row["iv"] and row["tte_years"] > 0)
    assert summary_of(pipeline_run)["total_gex"] == pytest.approx(total, rel=1e-4)


def test_naive_oi_gex_prices_the_true_open_interest_at_the_close_with_its_file_named(pipeline_run):
    # the convention: dealers long every call's OI, short every put's; OI at the close from the truth, gamma by a
    # central finite difference of BSM delta at each live contract's vol and carry
    from scipy.stats import norm

    truth = pl.read_parquet(pipeline_run["truth"] / "positions" / f"{AS_OF}.parquet")
    oi = dict(zip(truth["ticker"], truth["open_interest"]))
    exposures = lake(pipeline_run).read("dealer_exposures", AS_OF)
    summary, r, h = summary_of(pipeline_run), 0.043, 0.01
    spot = summary["spot"]

    def delta(s, row):
        t, q = row["tte_years"], row["carry_q"]
        d1 = (math.log(s / row["strike"]) + (r - q + row["iv"] ** 2 / 2) * t) / (row["iv"] * math.sqrt(t))
        return math.exp(-q * t) * (norm.cdf(d1) if row["right"] == "C" else norm.cdf(d1) - 1)

    total = sum((1 if row["right"] == "C" else -1) * oi.get(row["ticker"], 0) * 100 * spot ** 2 * 0.01
                * (delta(spot + h, row) - delta(spot - h, row)) / (2 * h)
                for row in exposures.to_dicts() if row["iv"] and row["tte_years"] > 0)
    assert sum(oi.values()) > 0 and summary["naive_oi_date"] == "2025-10-06"
    assert summary["naive_oi_total_gex"] == pytest.approx(total, rel=1e-4)


def test_positions_recover_the_true_dealer_book_better_than_the_plain_quote_rule(pipeline_run):
    from spy_gamma.bench.accuracy import quote_rule_positions, recovery

    store = lake(pipeline_run)
    truth = pl.read_parquet(pipeline_run["truth"] / "positions" / f"{AS_OF}.parquet").filter(
        pl.col("expiry").is_in(TARGETS))
    ours = recovery(pl.read_csv(pipeline_run["out"] / "dealer_positions.csv"), truth)
    quote = recovery(quote_rule_positions(store, TARGETS), truth)
    assert ours["correlation"] > 0.5
    assert ours["correlation"] >= quote["correlation"] - 0.01 and ours["wape"] <= quote["wape"] + 0.02


def test_the_true_total_gex_lies_inside_the_band_and_its_sign_is_ours_when_the_band_excludes_zero(pipeline_run):
    from spy_gamma.quant.book import dealer_book
    from spy_gamma.quant.exposure import contract_exposures

    store = lake(pipeline_run)
    truth = pl.read_parquet(pipeline_run["truth"] / "positions" / f"{AS_OF}.parquet").filter(
        pl.col("expiry").is_in(TARGETS)).with_columns(pl.col("dealer_position").cast(pl.Float64))
    book = dealer_book(truth, store.read("contract_iv", AS_OF), AS_OF)
    summary = summary_of(pipeline_run)
    true_gex = float(contract_exposures(book, summary["spot"], 0.043, 0.011)["gex"].sum())
    band = summary["total_gex_band"]
    assert band["p05"] <= true_gex <= band["p95"], (true_gex, band)  # one market: the bench measures coverage
    if band["p05"] > 0 or band["p95"] < 0:
        assert np.sign(true_gex) == np.sign(summary["total_gex"])


def test_the_true_dealer_hedge_for_a_1pct_move_lies_inside_its_band(pipeline_run):
    from spy_gamma.quant.book import dealer_book
    from spy_gamma.quant.exposure import hedging_flows

    truth = pl.read_parquet(pipeline_run["truth"] / "positions" / f"{AS_OF}.parquet").filter(
        pl.col("expiry").is_in(TARGETS)).with_columns(pl.col("dealer_position").cast(pl.Float64))
    summary = summary_of(pipeline_run)
    book = dealer_book(truth, lake(pipeline_run).read("contract_iv", AS_OF), AS_OF)
    true_hedge = dict(hedging_flows(book, summary["spot"], 0.043, 0.011).select("scenario", "hedge_usd").iter_rows())
    for scenario, key in (("spot -1%", "spot_-1pct"), ("spot +1%", "spot_+1pct")):
        band = summary["hedging_flows_band"][key]
        assert band["p05"] <= true_hedge[scenario] <= band["p95"], (scenario, true_hedge[scenario], band)


def test_an_as_of_expiry_day_reports_no_settled_contract(pipeline_run):
    # 2025-10-06 is an expiry day whose session is in the lake (it was ingested for its open interest)
    from spy_gamma.pipeline import SPYPositioningPipeline

    out = pipeline_run["out"].parent / "expiry_day"
    summary = SPYPositioningPipeline(output_dir=out, source="simulated", data_dir=pipeline_run["data"]).run_full_analysis(
        "2025-10-06", [], skip_download=True)  # the default rule: every listed expiry of the next five sessions
    positions = pl.read_csv(out / "dealer_positions.csv", try_parse_dates=True)
    assert summary["as_of"] == "2025-10-06" and "2025-10-08" in summary["expiries"]
    assert positions.filter(pl.col("expiry") <= dt.date(2025, 10, 6)).is_empty()
    exposures = lake(pipeline_run).read("dealer_exposures", dt.date(2025, 10, 6))
    assert exposures.filter(pl.col("expiry") <= dt.date(2025, 10, 6)).is_empty()


def test_the_lake_keeps_a_history_queryable_in_duckdb(pipeline_run):
    store = lake(pipeline_run)
    rows = store.query("select as_of, total_gex from levels_history order by as_of").rows()
    assert (AS_OF, summary_of(pipeline_run)["total_gex"]) in [(r[0], r[1]) for r in rows]
    trades = store.query("select count(*), count(distinct date), count(distinct expiry) from spy_trades").row(0)
    assert trades[0] > 1000 and trades[1] >= 21 and trades[2] > 3  # every expiry, every session
    assert store.query("select count(*) from spy_trades where ticker not like 'O:SPY2%'").item() == 0
