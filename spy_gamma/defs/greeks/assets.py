"""Greeks: implied vol per contract at each close, from fresh out-of-the-money marks, SVI-fitted per expiry."""

import datetime as dt

import dagster as dg
import polars as pl

from spy_gamma.defs.automation import follows_inputs
from spy_gamma.defs.ingest.assets import spy_quotes, spy_spot, spy_trades
from spy_gamma.defs.metadata import preview, share
from spy_gamma.defs.partitions import trading_days
from spy_gamma.defs.resources import LakeResource, MarketSettings
from spy_gamma.defs.runs import SINGLE_RUN, Check, DayResult, check_specs, materialize_days
from spy_gamma.quant.american import early_exercise
from spy_gamma.quant.closing_vols import closing_marks, contract_vols, fitted_chain, mark_ages
from spy_gamma.quant.implied_vol import IvStatus
from spy_gamma.quant.spot import close_spot
from spy_gamma.sources.dividends import read_ex_dividends
from spy_gamma.trading_calendar import session_close_ns

MIN_SOLVED_PCT = 80.0


@dg.asset(partitions_def=trading_days, group_name="greeks", owners=["team:spy-gamma"], kinds={"numpy", "parquet"},
          deps=[spy_trades, spy_quotes, spy_spot], code_version="3", backfill_policy=SINGLE_RUN,
          automation_condition=follows_inputs(),
          check_specs=check_specs("contract_iv", {
              "iv_solve_rate": f"At least {MIN_SOLVED_PCT}% of fresh closing marks invert to an implied vol "
                               "(the rest break no-arbitrage bounds; reported, never fatal)"}))
def contract_iv(context: dg.AssetExecutionContext, lake: LakeResource, market: MarketSettings):
    """Implied vol per contract at the session's close: each mark inverted at its own time and spot, against
    robust per-expiry forwards, smile-fitted on out-of-the-money marks; American early exercise checked."""
    store, dividends = lake.lake, read_ex_dividends()

    def build(day: dt.date) -> DayResult:
        bars = store.read("spy_spot", day)
        marks = closing_marks(store.read("spy_trades", day), store.read("spy_quotes", day), session_close_ns(day))
        vols = contract_vols(marks, bars, day, market.rate, market.dividend_yield)
        chain = early_exercise(fitted_chain(vols), close_spot(bars, day), market.rate, dividends, day)
        store.write("contract_iv", day, chain)
        status = vols.filter(~pl.col("stale"))["iv_status"]
        solved_pct = share(int((status == IvStatus.OK).sum()), len(status))
        return DayResult(
            metadata={"contracts_marked": len(vols), "iv_solved_pct": solved_pct, "spot_close": close_spot(bars, day),
                      **mark_ages(vols), "early_exercise_material": int(chain["early_exercise_material"].sum()),
                      "preview": preview(chain.filter(pl.col("iv_market").is_not_null()),
                                         columns=["ticker", "tte_years", "forward", "iv_market", "iv_fit", "iv"])},
            checks={"iv_solve_rate": Check(solved_pct >= MIN_SOLVED_PCT, {"solved_pct": solved_pct})})

    yield from materialize_days(context, build)
