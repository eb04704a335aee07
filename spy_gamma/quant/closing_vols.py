"""Implied vol per contract at a day's close: NBBO mids (fallback: last trades) inverted, then smile-fitted.

The closing mark of a contract is the mid of its last two-sided quote at or before 16:00 ET (bid > 0, not
crossed); without one, its last trade price. Marks are inverted with BSM at the close's time to expiry against
each expiry's put-call-parity forward (carry from the closing spot where no call/put pair quoted); each expiry's
smile is then fitted (SVI in log-forward-moneyness), which rejects outliers and gives a vol for strikes that did
not quote (contracts carried in the book without trading that day).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from spy_gamma.quant.contracts import ticker_expr
from spy_gamma.quant.expiry_time import session_close_ns, tte_years_expr
from spy_gamma.quant.forwards import parity_forwards, with_forwards
from spy_gamma.quant.implied_vol import implied_vol_with_status
from spy_gamma.quant.smile import fit_smiles

CONTRACT = ["ticker", "expiry", "strike", "right"]


def closing_marks(trades: pl.DataFrame, quotes: pl.DataFrame, close_ns: int) -> pl.DataFrame:
    """Per traded contract: ``mark`` and ``mark_source`` (``nbbo_mid`` or ``last_trade``)."""
    two_sided = quotes.filter((pl.col("sip_timestamp") <= close_ns) & (pl.col("bid_price") > 0)
                              & (pl.col("ask_price") >= pl.col("bid_price")))
    mids = (two_sided.sort("sip_timestamp", "sequence_number").group_by("ticker").last()
            .select("ticker", ((pl.col("bid_price") + pl.col("ask_price")) / 2).alias("mid")))
    last_trades = (trades.sort("sip_timestamp").group_by(CONTRACT).last()
                   .select(*CONTRACT, pl.col("price").alias("last_price")))
    return (last_trades.join(mids, on="ticker", how="left")
            .with_columns(pl.coalesce("mid", "last_price").alias("mark"),
                          pl.when(pl.col("mid").is_not_null()).then(pl.lit("nbbo_mid"))
                          .otherwise(pl.lit("last_trade")).alias("mark_source"),
                          pl.col("mid").is_not_null().alias("two_sided"))
            .drop("mid", "last_price"))


def contract_vols(marks: pl.DataFrame, spot: float, day: dt.date, r: float, q: float) -> pl.DataFrame:
    """Add ``tte_years`` (to each expiry's 16:00 ET from this day's close), ``forward``, ``iv_market``, ``iv_status``.

    The solver gets the spot consistent with each expiry's forward, S' = F e^{-(r-q)T}, so the vols carry the
    market's own forward rather than a dividend-yield guess.
    """
    close_ns = session_close_ns(day)
    marks = marks.filter(pl.col("expiry") >= day).with_columns(
        tte_years_expr(pl.lit(close_ns), pl.col("expiry")).alias("tte_years"))
    marks = with_forwards(marks, parity_forwards(marks, r), spot, r, q)
    tte = marks["tte_years"].to_numpy()
    spot_for_forward = marks["forward"].to_numpy() * np.exp(-(r - q) * tte)
    iv, status = implied_vol_with_status(marks["mark"].to_numpy(), spot_for_forward, marks["strike"].to_numpy(),
                                         tte, r, q, (marks["right"] == "C").to_numpy())
    return marks.with_columns(pl.Series("iv_market", iv).fill_nan(None), pl.Series("iv_status", status))


def fitted_chain(vols: pl.DataFrame, strike_step: float = 1.0) -> pl.DataFrame:
    """Every expiry's smile on a $1 strike ladder spanning its quoted strikes, calls and puts.

    Returns ``ticker, expiry, strike, right, tte_years, forward, mark, mark_source, iv_status, iv_market, iv_fit,
    rejected, iv`` where ``iv`` is the market vol unless the fit rejected it, else the fitted vol: the vol the
    Greeks use. Mark columns are null on ladder strikes that did not trade.
    """
    if vols.is_empty():
        return pl.DataFrame(schema={**{c: vols.schema[c] for c in CONTRACT}, "tte_years": pl.Float64,
                                    "forward": pl.Float64, "mark": pl.Float64, "mark_source": pl.String,
                                    "iv_status": pl.Int8, "iv_market": pl.Float64, "iv_fit": pl.Float64,
                                    "rejected": pl.Boolean, "iv": pl.Float64})
    ladder = _strike_ladder(vols, strike_step).join(
        vols.group_by("expiry").agg(pl.col("forward").first()), on="expiry")
    chain = ladder.join(vols.select(*CONTRACT[1:], "mark", "mark_source", "iv_status", "iv_market"),
                        on=CONTRACT[1:], how="left")
    fitted = fit_smiles(chain.with_columns(pl.col("iv_market").alias("iv"),
                                           pl.when(out_of_the_money()).then(1.0).otherwise(0.0).alias("weight")))
    smile = fitted.select("expiry", "strike", "right", "iv_fit", "rejected")
    return (chain.join(smile, on=["expiry", "strike", "right"], how="left")
            .with_columns(pl.when(pl.col("iv_market").is_not_null() & ~pl.col("rejected"))
                          .then(pl.col("iv_market")).otherwise(pl.col("iv_fit")).alias("iv"))
            .with_columns(ticker_expr(pl.col("expiry"), pl.col("right"), pl.col("strike")).alias("ticker"))
            .select(*CONTRACT, "tte_years", "forward", "mark", "mark_source", "iv_status", "iv_market", "iv_fit",
                    "rejected", "iv")
            .sort("expiry", "strike", "right"))


def out_of_the_money() -> pl.Expr:
    """Calls at or above the forward, puts below it: each side's liquid wing, the quotes a smile is fitted on."""
    return ((pl.col("right") == "C") & (pl.col("strike") >= pl.col("forward"))) | (
        (pl.col("right") == "P") & (pl.col("strike") < pl.col("forward")))


def _strike_ladder(vols: pl.DataFrame, step: float) -> pl.DataFrame:
    """Strikes every ``step`` dollars between each expiry's lowest and highest quoted strike, both rights."""
    bounds = vols.group_by("expiry").agg(pl.col("strike").min().alias("low"), pl.col("strike").max().alias("high"),
                                         pl.col("tte_years").first())
    rows = [(expiry, float(k), right, tte) for expiry, low, high, tte in bounds.iter_rows()
            for k in np.arange(low, high + step / 2, step) for right in ("C", "P")]
    return pl.DataFrame(rows, schema={"expiry": pl.Date, "strike": pl.Float64, "right": pl.String,
                                      "tte_years": pl.Float64}, orient="row")
