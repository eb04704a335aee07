"""Implied vol per contract at a day's close: NBBO mids (fallback: last trades) inverted, then smile-fitted.

The closing mark of a contract is the mid of its last two-sided quote at or before 16:00 ET (bid > 0, not
crossed); without one, its last trade price. Each mark is inverted with BSM at its own moment (the spot of the
last completed minute bar before it, its own time to expiry) against its expiry's put-call-parity forward,
expressed as a continuous carry (carry from the scalar q where no call/put pair quoted); marks older than
MAX_MARK_AGE_S are refused. Each expiry's smile is then fitted on out-of-the-money marks (SVI in
log-forward-moneyness, by strike), which rejects outliers and gives a vol for strikes that did not quote
(contracts carried in the book without trading that day, refused and in-the-money marks).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from spy_gamma.quant.contracts import ticker_expr
from spy_gamma.quant.expiry_time import session_close_ns, tte_years_expr
from spy_gamma.quant.forwards import parity_forwards, with_forwards
from spy_gamma.quant.implied_vol import implied_vol_with_status
from spy_gamma.quant.smile import MIN_POINTS, fit_smiles
from spy_gamma.quant.spot import close_spot, spot_at

CONTRACT = ["ticker", "expiry", "strike", "right"]
# Marks older than this at the close are refused: with SPY's vol-of-vol near 100%/yr, a 30-minute-old vol has a
# one-sigma drift of ~0.26 vol points at 15% vol (0.15 * 1.0 * sqrt(30 / (390 * 252))), a near-money half-spread.
MAX_MARK_AGE_S = 30 * 60.0


def closing_marks(trades: pl.DataFrame, quotes: pl.DataFrame, close_ns: int) -> pl.DataFrame:
    """Per traded contract: ``mark, mark_source`` (``nbbo_mid`` or ``last_trade``), ``two_sided``, ``mark_timestamp``.

    mark_timestamp is when the mark was set: the last two-sided quote's ``sip_timestamp``, or the last trade's.
    """
    two_sided = quotes.filter((pl.col("sip_timestamp") <= close_ns) & (pl.col("bid_price") > 0)
                              & (pl.col("ask_price") >= pl.col("bid_price")))
    mids = (two_sided.sort("sip_timestamp", "sequence_number").group_by("ticker").last()
            .select("ticker", ((pl.col("bid_price") + pl.col("ask_price")) / 2).alias("mid"),
                    pl.col("sip_timestamp").alias("quote_timestamp")))
    last_trades = (trades.filter(pl.col("sip_timestamp") <= close_ns).sort("sip_timestamp").group_by(CONTRACT).last()
                   .select(*CONTRACT, pl.col("price").alias("last_price"), pl.col("sip_timestamp").alias("trade_timestamp")))
    return (last_trades.join(mids, on="ticker", how="left")
            .with_columns(pl.coalesce("mid", "last_price").alias("mark"),
                          pl.when(pl.col("mid").is_not_null()).then(pl.lit("nbbo_mid"))
                          .otherwise(pl.lit("last_trade")).alias("mark_source"),
                          pl.col("mid").is_not_null().alias("two_sided"),
                          pl.coalesce("quote_timestamp", "trade_timestamp").alias("mark_timestamp"))
            .drop("mid", "last_price", "quote_timestamp", "trade_timestamp"))


def contract_vols(marks: pl.DataFrame, spot_bars: pl.DataFrame, day: dt.date, r: float, q: float,
                  max_mark_age_s: float = MAX_MARK_AGE_S) -> pl.DataFrame:
    """Each mark's implied vol at its own moment, with the forward and carry of its expiry.

    Adds ``tte_years`` (to each expiry's 16:00 ET from this day's close), ``spot`` (the close),
    ``mark_spot`` (:func:`spot_at` the mark's time), ``mark_tte_years``, ``mark_age_s`` (before the close),
    ``stale`` (older than ``max_mark_age_s``), ``forward, forward_pairs, forward_spread, forward_source,
    carry_q`` (see ``forwards.with_forwards``), ``iv_market``, ``iv_stale`` and ``iv_status``. A mark is inverted
    with the spot and time to expiry of its own moment at its expiry's carry; a stale mark's vol goes to
    ``iv_stale`` instead of ``iv_market`` (the smile fit fills it in), and it enters the forward only for an
    expiry without a fresh call/put pair (parity restated at its own moment is vol-free, unlike its vol).
    """
    close_ns = session_close_ns(day)
    spot = close_spot(spot_bars, day)
    marks = marks.filter(pl.col("expiry") >= day)
    marks = marks.with_columns(
        pl.lit(spot).alias("spot"),
        tte_years_expr(pl.lit(close_ns), pl.col("expiry")).alias("tte_years"),
        pl.Series("mark_spot", spot_at(spot_bars, marks["mark_timestamp"], day), dtype=pl.Float64),
        tte_years_expr(pl.col("mark_timestamp"), pl.col("expiry")).alias("mark_tte_years"),
        ((close_ns - pl.col("mark_timestamp")) / 1e9).alias("mark_age_s"),
    ).with_columns((pl.col("mark_age_s") > max_mark_age_s).alias("stale"))
    fresh = parity_forwards(marks.filter(~pl.col("stale")), r, spot)
    stale_only = parity_forwards(marks.filter(pl.col("stale")), r, spot).join(fresh, on="expiry", how="anti")
    marks = with_forwards(marks, pl.concat([fresh, stale_only]), spot, r, q)
    iv, status = implied_vol_with_status(marks["mark"].to_numpy(), marks["mark_spot"].to_numpy(),
                                         marks["strike"].to_numpy(), marks["mark_tte_years"].to_numpy(), r,
                                         marks["carry_q"].to_numpy(), (marks["right"] == "C").to_numpy())
    solved = pl.Series("iv", iv).fill_nan(None)
    return marks.with_columns(pl.when(~pl.col("stale")).then(solved).alias("iv_market"),
                              pl.when(pl.col("stale")).then(solved).alias("iv_stale"), pl.Series("iv_status", status))


def mark_ages(vols: pl.DataFrame, max_mark_age_s: float = MAX_MARK_AGE_S) -> dict[str, float | int | None]:
    """Mark-age figures for the data-quality block: median and p90 age (s) before the close, marks refused as stale."""
    ages = vols["mark_age_s"].drop_nulls()
    return {"mark_age_median_s": float(ages.median()) if len(ages) else None,
            "mark_age_p90_s": float(ages.quantile(0.9, interpolation="linear")) if len(ages) else None,
            "marks_refused_stale": int((ages > max_mark_age_s).sum()), "max_mark_age_s": max_mark_age_s}


EXPIRY_COLUMNS = ["forward", "carry_q", "spot", "forward_pairs", "forward_spread", "forward_source"]
MARK_COLUMNS = ["mark", "mark_source", "mark_timestamp", "mark_age_s", "stale", "iv_status", "iv_market", "iv_stale"]


def fitted_chain(vols: pl.DataFrame, strike_step: float = 1.0) -> pl.DataFrame:
    """Every expiry's smile on a $1 strike ladder spanning its quoted strikes, calls and puts.

    Returns ``ticker, expiry, strike, right, tte_years``, the expiry's ``forward, carry_q, spot, forward_pairs,
    forward_spread, forward_source``, the contract's ``mark, mark_source, mark_timestamp, mark_age_s, stale,
    iv_status, iv_market, iv_stale`` (null on ladder strikes that did not trade), ``iv_fit, rejected, iv,
    iv_source``. The smile is fitted on fresh out-of-the-money marks only (SPY options are American: an
    in-the-money mark carries early-exercise value a European inversion reads as vol); an expiry with fewer than
    MIN_POINTS of them is fitted on its stale ones too rather than dropped. ``iv``, the vol the Greeks use, is
    the market vol of a fresh out-of-the-money mark the fit kept, else the fitted vol; ``iv_source`` says which:
    market, smile, or stale_smile (a smile that needed stale marks).
    """
    if vols.is_empty():
        schema = {**{c: vols.schema[c] for c in CONTRACT}, "tte_years": pl.Float64,
                  **{c: vols.schema[c] for c in EXPIRY_COLUMNS + MARK_COLUMNS},
                  "iv_fit": pl.Float64, "rejected": pl.Boolean, "iv": pl.Float64, "iv_source": pl.String}
        return pl.DataFrame(schema=schema)
    ladder = _strike_ladder(vols, strike_step).join(
        vols.group_by("expiry").agg(pl.col(EXPIRY_COLUMNS).first()), on="expiry")
    chain = ladder.join(vols.select(*CONTRACT[1:], *MARK_COLUMNS), on=CONTRACT[1:], how="left")
    fresh_points = (pl.col("iv_market").is_not_null() & out_of_the_money()).sum().over("expiry")
    chain = chain.with_columns((fresh_points < MIN_POINTS).alias("stale_smile"))
    fitted = fit_smiles(chain.with_columns(
        pl.when(pl.col("stale_smile")).then(pl.coalesce("iv_market", "iv_stale")).otherwise("iv_market").alias("iv"),
        pl.when(out_of_the_money()).then(1.0).otherwise(0.0).alias("weight")))
    smile = fitted.select("expiry", "strike", "right", "iv_fit", "rejected")
    from_market = pl.col("iv_market").is_not_null() & ~pl.col("rejected") & out_of_the_money()
    return (chain.join(smile, on=["expiry", "strike", "right"], how="left")
            .with_columns(pl.when(from_market).then(pl.col("iv_market")).otherwise(pl.col("iv_fit")).alias("iv"),
                          pl.when(from_market).then(pl.lit("market")).when(pl.col("stale_smile"))
                          .then(pl.lit("stale_smile")).otherwise(pl.lit("smile")).alias("iv_source"))
            .with_columns(ticker_expr(pl.col("expiry"), pl.col("right"), pl.col("strike")).alias("ticker"))
            .select(*CONTRACT, "tte_years", *EXPIRY_COLUMNS, *MARK_COLUMNS, "iv_fit", "rejected", "iv", "iv_source")
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
