"""Analytics, as of a close: target expiries, dealer positions, exposures, the gamma profile and its levels with
their bands, the GEX surface and the market structure.

As-of assets are partitioned by the close their analysis is as of and read the daily partitions of their
lookback window through ``LOOKBACK`` (a declared dependency), so any as-of day materializes in any order.
"""

import datetime as dt
import json

import dagster as dg
import numpy as np
import polars as pl

from spy_gamma.defs.automation import follows_inputs
from spy_gamma.defs.ingest.assets import open_interest, spy_trades
from spy_gamma.defs.metadata import jsonable, preview
from spy_gamma.defs.partitions import (
    LOOKBACK,
    LOOKBACK_AND_NEXT,
    NEXT_SESSION,
    OPEN_INTEREST_AROUND,
    session_after,
    trading_days,
    window_sessions,
)
from spy_gamma.defs.resources import LakeResource, MarketSettings
from spy_gamma.defs.runs import SINGLE_RUN, Check, DayResult, materialize_days, table_specs
from spy_gamma.lake import LakeError
from spy_gamma.quant.book import dealer_book, open_interest_book
from spy_gamma.quant.exposure import (
    contract_exposures,
    exposures_by_strike,
    gamma_flip,
    hedging_flows,
    max_pain,
    walls,
)
from spy_gamma.quant.exposure import gamma_profile as profile_over_grid
from spy_gamma.quant.exposure import gex_surface as surface_over_days
from spy_gamma.quant.history import backtest_row
from spy_gamma.quant.positions import estimate_positions
from spy_gamma.quant.structure import levels, patterns, regime
from spy_gamma.quant.uncertainty import DRAW_COLUMNS, exposure_bands, hedge_bands, position_draws, regime_label
from spy_gamma.trading_calendar import trading_days as sessions_between

AS_OF = dict(partitions_def=trading_days, owners=["team:spy-gamma"], backfill_policy=SINGLE_RUN)
ANALYTICS = dict(**AS_OF, group_name="analytics", kinds={"numpy", "parquet"})
RULE_SESSIONS = 5  # default target expiries: every listed expiry of the next five sessions


class AnalysisScope(dg.Config):
    """What an as-of analysis covers. ``expiries`` (YYYY-MM-DD): empty means every listed expiry of the next five
    sessions; ``spot``: price the book at this spot instead of the session's regular-session close."""

    expiries: list[str] = []  # noqa: RUF012 - Dagster config fields are declared with defaults like this
    spot: float | None = None


@dg.asset(**ANALYTICS, code_version="2",
          deps=[spy_trades, "contract_iv", dg.AssetDep(open_interest, partition_mapping=OPEN_INTEREST_AROUND)],
          automation_condition=follows_inputs(optional=dg.AssetSelection.assets(open_interest)))
def target_expiries(context: dg.AssetExecutionContext, config: AnalysisScope, lake: LakeResource):
    """The expiries the as-of analysis covers and the spot it prices at: the run config's, else the rule and the
    close, recorded as data so every downstream asset and a later re-run read the same choice."""
    store = lake.lake

    def build(as_of: dt.date) -> DayResult:
        listed = _listed_expiries(store, as_of)
        chosen = sorted(dt.date.fromisoformat(e) for e in config.expiries) if config.expiries else _rule(listed, as_of)
        if not chosen:
            raise dg.Failure(f"no listed expiry in the {RULE_SESSIONS} sessions after {as_of}: name the expiries to "
                             "analyse (spy-gamma run --expiry ..., or this asset's run config)", allow_retries=False)
        if any(e <= as_of for e in chosen):
            raise dg.Failure(f"target expiries must come after the as-of close {as_of}: {chosen}", allow_retries=False)
        close = float(store.read("contract_iv", as_of)["spot"][0])
        scope = pl.DataFrame({"expiry": chosen}, schema={"expiry": pl.Date}).with_columns(
            pl.lit("run config" if config.expiries else f"next {RULE_SESSIONS} sessions").alias("chosen_by"),
            pl.col("expiry").is_in(listed).alias("listed"), pl.lit(config.spot or close).alias("spot"),
            pl.lit(close).alias("close_spot"))
        store.write("target_expiries", as_of, scope, key_column="as_of")
        return DayResult(metadata={"expiries": ", ".join(map(str, chosen)), "spot": config.spot or close,
                                   "not_listed": ", ".join(str(e) for e in chosen if e not in listed)})

    yield from materialize_days(context, build)


def _listed_expiries(store, as_of: dt.date) -> list[dt.date]:
    """Expiries traded that day or open at its start."""
    traded = store.read("spy_trades", as_of)["expiry"].unique().to_list()
    oi = store.read_if_present("open_interest", as_of)
    return sorted(set(traded) | set(oi["expiry"].unique().to_list() if oi is not None else []))


def _rule(listed: list[dt.date], as_of: dt.date) -> list[dt.date]:
    """Listed expiries falling on the next RULE_SESSIONS sessions."""
    upcoming = set(sessions_between(as_of + dt.timedelta(days=1), as_of + dt.timedelta(days=3 * RULE_SESSIONS + 10))
                   [:RULE_SESSIONS])
    return [e for e in listed if e in upcoming]


POSITION_DEPS = [dg.AssetDep("vote_groups", partition_mapping=LOOKBACK),
                 dg.AssetDep("contract_flows", partition_mapping=LOOKBACK),
                 dg.AssetDep(open_interest, partition_mapping=LOOKBACK_AND_NEXT)]
POSITION_TABLES = ("dealer_positions", "position_path", "signing_fit")


@dg.multi_asset(
    specs=table_specs(dict(zip(POSITION_TABLES, (
        "Dealer position per contract at the as-of close with its uncertainty (start inventory, window flow),"
        " consistent with open interest.",
        "Dealer position per contract at every close of the lookback window.",
        "The signing model fitted on the window's prints: reliabilities, depth accuracy, propensities."))),
        deps=POSITION_DEPS, group_name="analytics", kinds={"numpy", "parquet"}, code_version="9",
        automation_condition=follows_inputs(optional=dg.AssetSelection.assets(open_interest))),
    partitions_def=trading_days, backfill_policy=SINGLE_RUN, can_subset=False,
    check_specs=[dg.AssetCheckSpec("positions_within_open_interest", asset="dealer_positions",
                                   description="Window flows that no start inventory reconciles with open interest "
                                               "(the reported position is clipped to it): reported share")])
def dealer_positions(context: dg.AssetExecutionContext, lake: LakeResource):
    """Positions as of the close, from the window's evidence re-fitted as one window and its open interest."""
    store = lake.lake

    def build(as_of: dt.date) -> DayResult:
        days, after = window_sessions(as_of), session_after(as_of)
        if not any(store.exists("contract_flows", day) for day in days):  # a session missing is a warning; all: no
            raise LakeError(f"contract_flows has no partition in the window {days[0]}..{days[-1]} of the {as_of} "
                            "close: materialize its sessions first (run without --skip-download)")
        estimate = estimate_positions(store.read_days("vote_groups", days, missing_ok=True),
                                      store.read_days("contract_flows", days, missing_ok=True),
                                      store.read_days("open_interest", [*days, after], missing_ok=True), days, after)
        store.write("dealer_positions", as_of, estimate.at_close, key_column="as_of")
        store.write("position_path", as_of, estimate.path, key_column="as_of")
        store.write("signing_fit", as_of, pl.DataFrame({"fit_json": [json.dumps(estimate.fit.as_dict())]}),
                    key_column="as_of")
        positions = estimate.at_close
        clipped = int(positions["clipped_to_open_interest"].sum())
        return DayResult(
            metadata={"contracts": len(positions), "gross_dealer_contracts": float(positions["dealer_position"].abs().sum()),
                      "opened_before_window": int((positions["start_method"] == "oi_feasible").sum()),
                      "signing_fit": dg.MetadataValue.json(estimate.fit.as_dict()),
                      "preview": preview(positions.sort(pl.col("dealer_position").abs(), descending=True),
                                         columns=["ticker", "dealer_position", "position_sd", "open_interest"])},
            checks={"positions_within_open_interest": Check(clipped == 0, {
                "clipped": clipped, "contracts": len(positions),
                "with_open_interest_at_close": int(positions["open_interest"].is_not_null().sum())})})

    yield from materialize_days(context, build, assets=POSITION_TABLES)


def _book(store, as_of: dt.date) -> tuple[pl.DataFrame, float]:
    """The as-of dealer book of the target expiries with each contract's vol and carry, and the closing spot."""
    scope = store.read("target_expiries", as_of)
    positions = store.read("dealer_positions", as_of).filter(pl.col("expiry").is_in(scope["expiry"].to_list()))
    uncertainty = positions.select("ticker", *(c for c in DRAW_COLUMNS if c in positions.columns))
    book = dealer_book(positions, store.read("contract_iv", as_of), as_of).join(uncertainty, on="ticker", how="left")
    return book, analysis_spot(store, as_of)


def closing_open_interest(store, as_of: dt.date) -> tuple[dt.date, pl.DataFrame] | None:
    """The latest OI file known at the ``as_of`` close with its date: the next session's (OI at this close) once
    published, else this session's (OI at the previous close); None when neither exists."""
    for day in (session_after(as_of), as_of):
        frame = store.read_if_present("open_interest", day)
        if frame is not None:
            return day, frame
    return None


def analysis_spot(store, as_of: dt.date) -> float:
    """The spot the as-of analysis prices at (the close, unless the run asked for another)."""
    return float(store.read("target_expiries", as_of)["spot"][0])


@dg.multi_asset(
    specs=table_specs({"dealer_exposures": "Per-contract BSM Greeks and dealer GEX/DEX/VEX/CEX at the close.",
                       "exposures_by_strike": "Dealer exposures summed by expiry and strike (ARCHITECTURE §5)."},
                      deps=["dealer_positions", "contract_iv", "target_expiries"], group_name="analytics",
                      kinds={"numpy", "parquet"}, code_version="4", automation_condition=follows_inputs()),
    partitions_def=trading_days, backfill_policy=SINGLE_RUN, can_subset=False,
    check_specs=[dg.AssetCheckSpec("exposures_finite", asset="dealer_exposures",
                                   description="GEX, DEX, VEX and CEX finite for every contract")])
def dealer_exposures(context: dg.AssetExecutionContext, lake: LakeResource, market: MarketSettings):
    """Greeks and dollar exposures of the target expiries' book at the as-of close (settled contracts excluded)."""
    store = lake.lake

    def build(as_of: dt.date) -> DayResult:
        book, spot = _book(store, as_of)
        exposures = contract_exposures(book, spot, market.rate, market.dividend_yield)
        store.write("dealer_exposures", as_of, exposures, key_column="as_of")
        store.write("exposures_by_strike", as_of, exposures_by_strike(exposures), key_column="as_of")
        bad = exposures.filter(~pl.all_horizontal(pl.col("gex", "dex", "vex", "cex").is_finite())).height
        return DayResult(metadata={"contracts": len(exposures), "spot": spot, "total_gex_usd": float(exposures["gex"].sum()),
                                   "total_dex_usd": float(exposures["dex"].sum())},
                         checks={"exposures_finite": Check(bad == 0, {"non_finite_rows": bad})})

    yield from materialize_days(context, build, assets=("dealer_exposures", "exposures_by_strike"))


LEVEL_TABLES = ("gamma_profile", "gamma_levels", "max_pain", "hedging_flows")


@dg.multi_asset(
    specs=table_specs(dict(zip(LEVEL_TABLES, (
        "Total dealer GEX re-priced over spot +-7% with its 90% band over the signing model's draws.",
        "Flip, walls, absolute gamma and total GEX at the close, each with p05/p50/p95 and prob_dealers_long_gamma.",
        "Max pain per expiry from the open interest at the close.",
        "Underlying dealers trade to stay delta neutral under spot, vol and time scenarios, with 90% bands."))),
        deps=[dg.AssetDep("dealer_exposures"), dg.AssetDep("exposures_by_strike"), dg.AssetDep("target_expiries"),
              dg.AssetDep(open_interest, partition_mapping=OPEN_INTEREST_AROUND)],
        group_name="analytics", kinds={"numpy", "parquet"}, code_version="6",
        automation_condition=follows_inputs(optional=dg.AssetSelection.assets(open_interest))),
    partitions_def=trading_days, backfill_policy=SINGLE_RUN, can_subset=False,
    check_specs=[dg.AssetCheckSpec("profile_finite", asset="gamma_profile",
                                   description="The profile covers +-7% of spot with finite totals")])
def gamma_levels(context: dg.AssetExecutionContext, lake: LakeResource, market: MarketSettings):
    """The gamma profile, flip, walls, max pain and hedging flows at the close, with bands from position draws."""
    store, r, q = lake.lake, market.rate, market.dividend_yield

    def build(as_of: dt.date) -> DayResult:
        exposures = store.read("dealer_exposures", as_of)
        spot = analysis_spot(store, as_of)
        profile = profile_over_grid(exposures, spot, r, q)
        draws = position_draws(exposures, seed=as_of.toordinal())
        bands = exposure_bands(exposures, draws, spot, r, q, profile["spot"].to_numpy())
        latest = closing_open_interest(store, as_of)
        pain = max_pain(open_interest_book(exposures, latest[1] if latest else None))
        row = {"spot": spot, "total_gex": float(exposures["gex"].sum()),
               "gamma_flip": gamma_flip(exposures, spot, r, q, profile),
               **walls(store.read("exposures_by_strike", as_of)),
               **_band_columns(bands)}
        store.write("gamma_profile", as_of, profile.join(bands.profile, on="spot"), key_column="as_of")
        store.write("gamma_levels", as_of, pl.DataFrame([row]), key_column="as_of")
        store.write("max_pain", as_of, pl.DataFrame({"expiry": list(pain), "max_pain": list(pain.values())},
                                                    schema={"expiry": pl.Date, "max_pain": pl.Float64}), key_column="as_of")
        store.write("hedging_flows", as_of, hedging_flows(exposures, spot, r, q).join(
            hedge_bands(exposures, draws, spot, r, q), on="scenario", how="left"), key_column="as_of")
        finite = bool(profile["total_gex"].is_finite().all())
        return DayResult(metadata={k: v for k, v in row.items() if isinstance(v, float | int) and np.isfinite(v)},
                         checks={"profile_finite": Check(finite, {"points": len(profile)})})

    yield from materialize_days(context, build, assets=LEVEL_TABLES)


def _band_columns(bands) -> dict[str, float | None]:
    """Flat ``<figure>_p05/p50/p95`` columns of the bands for one levels row."""
    flat = {"prob_dealers_long_gamma": bands.prob_dealers_long_gamma, "flip_found_share": bands.flip_found_share,
            "no_flip_long_share": bands.no_flip_long_share}
    for figure in ("total_gex", "gamma_flip", "call_wall", "put_wall"):
        for key, value in getattr(bands, figure).items():
            flat[f"{figure}_{key}"] = value
    return flat


@dg.asset(**ANALYTICS, code_version="1",
          deps=["position_path", dg.AssetDep("contract_iv", partition_mapping=LOOKBACK), "target_expiries"],
          automation_condition=follows_inputs(optional=dg.AssetSelection.assets("contract_iv")))
def gex_surface(context: dg.AssetExecutionContext, lake: LakeResource, market: MarketSettings):
    """Dealer net GEX by strike at every close of the window: how the as-of book of the target expiries was built."""
    store = lake.lake

    def build(as_of: dt.date) -> DayResult:
        targets = store.read("target_expiries", as_of)["expiry"].to_list()
        path = store.read("position_path", as_of).filter(pl.col("expiry").is_in(targets))
        chains = {day: chain for day in window_sessions(as_of)
                  if (chain := store.read_if_present("contract_iv", day)) is not None}
        books = [dealer_book(path.filter(pl.col("date") == day), chain, day).with_columns(pl.lit(day).alias("date"))
                 for day, chain in chains.items()]
        surface = surface_over_days(pl.concat(books, how="diagonal_relaxed"),
                              {day: float(chain["spot"][0]) for day, chain in chains.items()},
                              market.rate, market.dividend_yield) if books else pl.DataFrame(
            schema={"date": pl.Date, "strike": pl.Float64, "net_gex": pl.Float64})
        store.write("gex_surface", as_of, surface, key_column="as_of")
        return DayResult(metadata={"days": len(chains), "rows": len(surface)})

    yield from materialize_days(context, build)


@dg.asset(**ANALYTICS, code_version="1", deps=["dealer_exposures", "gamma_levels"],
          automation_condition=follows_inputs())
def market_structure(context: dg.AssetExecutionContext, lake: LakeResource):
    """Dealer-perspective regime (uncertain when the 90% band of GEX at spot straddles zero), levels, patterns."""
    store = lake.lake

    def build(as_of: dt.date) -> DayResult:
        exposures, row = store.read("dealer_exposures", as_of), store.read("gamma_levels", as_of).row(0, named=True)
        point = regime(exposures, row["spot"], row["gamma_flip"])
        band = {k: row[f"total_gex_{k}"] for k in ("p05", "p50", "p95")}
        structure = {"regime": {**jsonable(point), "label": regime_label(point.label, band),
                                "point_label": point.label},
                     "levels": levels(exposures, row["spot"], row["gamma_flip"]),
                     "patterns": patterns(exposures, row["spot"])}
        payload = json.dumps(structure, default=jsonable)
        store.write("market_structure", as_of, pl.DataFrame({"structure_json": [payload]}), key_column="as_of")
        return DayResult(metadata={"regime": structure["regime"]["label"],
                                   "structure": dg.MetadataValue.json(json.loads(payload))})

    yield from materialize_days(context, build)


@dg.asset(**ANALYTICS, code_version="1", deps=["gamma_levels", "max_pain", "market_structure", "target_expiries"],
          automation_condition=follows_inputs())
def levels_history(context: dg.AssetExecutionContext, lake: LakeResource):
    """One row per as-of close: spot, total GEX and its band, flip, walls, absolute gamma, max pain, regime."""
    store = lake.lake

    def build(as_of: dt.date) -> DayResult:
        row = history_row(store.read("gamma_levels", as_of), store.read("max_pain", as_of),
                          json.loads(store.read("market_structure", as_of)["structure_json"][0]),
                          store.read("target_expiries", as_of)["expiry"].to_list())
        store.write("levels_history", as_of, pl.DataFrame([row]), key_column="as_of")
        return DayResult(metadata={k: v for k, v in row.items() if isinstance(v, float | int | str)})

    yield from materialize_days(context, build)


def history_row(levels_row: pl.DataFrame, pain: pl.DataFrame, structure: dict, expiries: list[dt.date]) -> dict:
    """The levels_history row of one close (walls with their dealer GEX; max pain of the front target expiry)."""
    row = levels_row.row(0, named=True)
    front = pain.filter(pl.col("expiry").is_in(expiries)).sort("expiry")
    keep = ["spot", "total_gex", "total_gex_p05", "total_gex_p50", "total_gex_p95", "prob_dealers_long_gamma",
            "gamma_flip", "gamma_flip_p05", "gamma_flip_p95", "call_wall", "call_wall_gex", "put_wall", "put_wall_gex",
            "abs_gamma_strike", "abs_gamma_strike_gross"]
    return {**{k: row.get(k) for k in keep}, "regime": structure["regime"]["label"],
            "expiries": ", ".join(map(str, expiries)),
            "front_expiry": front["expiry"][0] if front.height else None,
            "front_max_pain": float(front["max_pain"][0]) if front.height else None}


@dg.asset(**ANALYTICS, code_version="1",
          deps=["levels_history", dg.AssetDep("spy_spot", partition_mapping=NEXT_SESSION)],
          automation_condition=follows_inputs(optional=dg.AssetSelection.assets("spy_spot")))
def level_backtest(context: dg.AssetExecutionContext, lake: LakeResource):
    """Each close's levels against the next session's open, high, low and close: were they respected?"""
    store = lake.lake

    def build(as_of: dt.date) -> DayResult:
        after = session_after(as_of)
        bars = store.read_if_present("spy_spot", after)
        row = backtest_row(store.read("levels_history", as_of).row(0, named=True), bars, after)
        store.write("level_backtest", as_of, pl.DataFrame([row]), key_column="as_of")
        return DayResult(metadata={"next_session": str(after), "next_session_known": bars is not None})

    yield from materialize_days(context, build)
