"""Greeks: implied vol per contract at each close, smile-fitted per expiry."""


import dagster as dg
import polars as pl

from spy_gamma.defs.ingest.assets import spy_quotes, spy_spot, spy_trades
from spy_gamma.defs.metadata import preview, share
from spy_gamma.defs.partitions import partition_day, trading_days
from spy_gamma.defs.resources import AnalysisConfig, LakeResource
from spy_gamma.quant.closing_vols import closing_marks, contract_vols, fitted_chain
from spy_gamma.quant.expiry_time import session_close_ns


@dg.asset(partitions_def=trading_days, group_name="greeks", owners=["team:spy-gamma"],
          kinds={"numpy", "parquet"}, deps=[spy_trades, spy_quotes, spy_spot])
def contract_iv(context: dg.AssetExecutionContext, config: AnalysisConfig, lake: LakeResource) -> dg.MaterializeResult:
    """Implied vol per contract at the partition day's close from NBBO mids (fallback last trade), SVI-fitted."""
    day, store = partition_day(context), lake.lake
    spot = float(store.read("spy_spot", day)["close"][-1])
    marks = closing_marks(store.read("spy_trades", day), store.read("spy_quotes", day), session_close_ns(day))
    vols = contract_vols(marks, spot, day, config.rate, config.dividend_yield)
    chain = fitted_chain(vols).with_columns(pl.lit(spot).alias("spot"))
    store.write("contract_iv", day, chain)
    solved = int(vols["iv_market"].is_not_null().sum())
    return dg.MaterializeResult(metadata={
        "contracts_marked": len(vols), "iv_solved_pct": share(solved, len(vols)), "spot_close": spot,
        "from_nbbo_mid_pct": share(int((vols["mark_source"] == "nbbo_mid").sum()), len(vols)),
        "rejected_by_fit": int(chain["rejected"].sum()), "ladder_rows": len(chain),
        "forwards": {str(e): round(f, 4) for e, f in vols.group_by("expiry").agg(pl.col("forward").first()).iter_rows()},
        "preview": preview(chain.filter(pl.col("iv_market").is_not_null()),
                           columns=["ticker", "tte_years", "iv_market", "iv_fit", "iv"])})
