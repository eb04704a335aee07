"""Classify: pair each print with its prevailing NBBO, estimate P(customer bought), split opens from closes.

Daily: classifying session d reads d's open interest and d+1's (OI at d's close), a declared dependency with an
end offset; when d+1's file lands later, automation re-classifies d.
"""

import datetime as dt

import dagster as dg
import polars as pl

from spy_gamma.defs.automation import follows_inputs
from spy_gamma.defs.ingest.assets import open_interest, spy_quotes, spy_trades
from spy_gamma.defs.metadata import preview, share
from spy_gamma.defs.partitions import OPEN_INTEREST_AROUND, session_after, trading_days
from spy_gamma.defs.resources import LakeResource
from spy_gamma.defs.runs import SINGLE_RUN, Check, DayResult, materialize_days, table_specs
from spy_gamma.quant.pairing import quote_state_counts
from spy_gamma.quant.positions import contract_flows as flows_by_contract
from spy_gamma.quant.prints import classify_prints
from spy_gamma.quant.votes import vote_groups

MIN_QUOTED_PCT = 95.0
MAX_UNKNOWN_SIDE_PCT = 40.0
QUOTE_AGE_WARN_S = 10.0  # a quote older than this at the print: reported, never discarded
MAX_OLD_QUOTE_PCT = 25.0
CLASSIFIED = ("classified_trades", "contract_flows", "vote_groups", "session_quality")
CLASSIFY_DEPS = [dg.AssetDep(spy_trades), dg.AssetDep(spy_quotes),
                 dg.AssetDep(open_interest, partition_mapping=OPEN_INTEREST_AROUND)]


@dg.multi_asset(
    specs=table_specs({
        "classified_trades": "Each print with its prevailing quote (whatever its age), P(customer bought), the "
                             "expected dealer flow, BTO/STO/BTC/STC and the evidence behind it.",
        "contract_flows": "Per contract and session: volume, expected customer buys/sells, expected dealer flow "
                          "and variance, volume by open/close label.",
        "vote_groups": "The session's signing evidence collapsed per contract (counts and sizes per quote stratum "
                       "and vote): what the window's signing model is fitted on.",
        "session_quality": "One row per session: prints, quote coverage and states, old quotes, undecided sides, "
                           "open/close method shares: the data-quality block's inputs."},
        deps=CLASSIFY_DEPS, group_name="classify", kinds={"polars", "parquet"}, code_version="8",
        automation_condition=follows_inputs(optional=dg.AssetSelection.assets(open_interest))),
    partitions_def=trading_days, backfill_policy=SINGLE_RUN, can_subset=False,
    check_specs=[
        dg.AssetCheckSpec("quote_coverage", asset="classified_trades",
                          description=f"At least {MIN_QUOTED_PCT}% of prints have a prevailing NBBO (reported, "
                                      "never fatal: an unquoted print is signed from its contract's flow)"),
        dg.AssetCheckSpec("unknown_side_share", asset="classified_trades",
                          description=f"Prints whose P(buy) stays within 0.4-0.6 <= {MAX_UNKNOWN_SIDE_PCT}%"),
        dg.AssetCheckSpec("quote_age", asset="classified_trades",
                          description=f"Prints priced off a quote older than {QUOTE_AGE_WARN_S:g} s <= "
                                      f"{MAX_OLD_QUOTE_PCT}% (it stands until it changes; the model weighs it by age)")])
def classify(context: dg.AssetExecutionContext, lake: LakeResource):
    """Pair, sign and split one session's prints; write the prints, per-contract flows and the evidence groups."""
    store = lake.lake

    def build(day: dt.date) -> DayResult:
        oi = store.read_days("open_interest", [day, session_after(day)], missing_ok=True)
        session = classify_prints(store.read("spy_trades", day), store.read("spy_quotes", day),
                                  oi.select("date", "ticker", "open_interest") if oi.height else None, day)
        prints = session.prints
        store.write("classified_trades", day, prints)
        store.write("contract_flows", day, flows_by_contract(prints, session.contracts))
        store.write("vote_groups", day, vote_groups(prints))
        quality = session_quality(prints)
        store.write("session_quality", day, pl.DataFrame([quality]))
        return _day_result(prints, quality, session.fit.as_dict())

    yield from materialize_days(context, build, assets=CLASSIFIED)


def session_quality(prints: pl.DataFrame) -> dict[str, float | int]:
    """Shares (%) of the session's prints by quote state, with an old quote, undecided, split by open interest."""
    n = len(prints)
    states = quote_state_counts(prints)
    return {"prints": n, "quoted_pct": share(n - states["unquoted"], n),
            **{f"{state}_pct": share(count, n) for state, count in states.items() if state != "normal"},
            "old_quote_pct": share(int((prints["quote_age_ns"].fill_null(0) > QUOTE_AGE_WARN_S * 1e9).sum()), n),
            "median_quote_age_ms": float(prints["quote_age_ns"].median() or 0.0) / 1e6,
            "unknown_side_pct": share(int((prints["customer_side"] == 0).sum()), n),
            "crossed_condition_pct": share(int((prints["p_dealer"] == 0).sum()), n),
            "oi_split_pct": share(int((prints["open_close_method"] == "oi_split").sum()), n)}


def _day_result(prints: pl.DataFrame, quality: dict, fit: dict) -> DayResult:
    return DayResult(
        metadata={**quality,
                  "open_close_methods": dg.MetadataValue.json(dict(prints.group_by("open_close_method").len().iter_rows())),
                  "signing_fit": dg.MetadataValue.json(fit),
                  "preview": preview(prints, columns=["ticker", "price", "bid_price", "ask_price", "p_customer_buy",
                                                      "open_close", "expected_dealer_flow"])},
        checks={"quote_coverage": Check(quality["quoted_pct"] >= MIN_QUOTED_PCT, {"quoted_pct": quality["quoted_pct"]}),
                "unknown_side_share": Check(quality["unknown_side_pct"] <= MAX_UNKNOWN_SIDE_PCT,
                                            {"unknown_side_pct": quality["unknown_side_pct"]}),
                "quote_age": Check(quality["old_quote_pct"] <= MAX_OLD_QUOTE_PCT,
                                   {"older_than_limit_pct": quality["old_quote_pct"]})})
