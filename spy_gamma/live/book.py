"""The live dealer book: the morning's positions plus the day's signed flow, re-priced at the live spot with the
batch exposure, structure and uncertainty code (no second implementation of any of it)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from spy_gamma.live.morning import Morning
from spy_gamma.quant.book import dealer_book
from spy_gamma.quant.contracts import with_contract_fields
from spy_gamma.quant.expiry_time import tte_years_expr
from spy_gamma.quant.exposure import contract_exposures, exposures_by_strike, gamma_flip, gamma_profile, walls
from spy_gamma.quant.signing import SigningModel, in_units_of
from spy_gamma.quant.structure import regime
from spy_gamma.quant.uncertainty import DRAW_COLUMNS, NUMERIC_DRAW_COLUMNS, exposure_bands, position_draws, regime_label

LIVE_DRAWS = 100  # position draws per re-pricing (the batch uses N_DRAWS; 100 keep a step well under a second)
BAND_GRID_EVERY = 4  # bands on every 4th profile point ($1 apart): a draw's flip is interpolated between them


NO_FLOWS = {"ticker": pl.String, "day_flow": pl.Float64, "flow_variance": pl.Float64}


def window_model(morning: Morning, day_groups: pl.DataFrame, touched: list[str]) -> SigningModel | None:
    """The batch signing model over the window's earlier evidence and today's in the direction units of the
    ``touched`` tickers (a print moves its whole unit's direction, so every contract of the unit is re-read), with
    the morning fit's parameters (``SigningModel.use``: no refit intraday); None before the first print. Units
    nothing touched are left out: with the parameters fixed, each unit's posterior is its own evidence's."""
    unit = morning.fit.direction_unit
    today = (in_units_of(day_groups, day_groups.filter(pl.col("ticker").is_in(touched)), unit)
             .join(morning.day_classes, on=["date", "ticker"], how="left"))
    if not today.height:
        return None
    prior = in_units_of(morning.prior_groups, today, unit)
    model = SigningModel(pl.concat([prior, today], how="diagonal_relaxed") if prior.height else today, unit)
    model.use(morning.fit)
    return model


def day_flows(model: SigningModel | None, day: dt.date) -> pl.DataFrame:
    """``ticker, day_flow, flow_variance``: each contract's expected dealer flow on ``day`` (contracts) and the
    variance of its flow, its book direction read over the whole window's evidence."""
    if model is None:
        return pl.DataFrame(schema=NO_FLOWS)
    today = (model.contract_day_flows().filter(pl.col("date") == day)
             .select("ticker", pl.col("dealer_flow").alias("day_flow")))
    variance = model.contract_moments().select("ticker", pl.col("dealer_flow_variance").alias("flow_variance"))
    return today.join(variance, on="ticker", how="left")


def live_positions(morning: Morning, flows: pl.DataFrame) -> pl.DataFrame:
    """Morning position + today's flow per contract of the target expiries (``dealer_position``), with the draws'
    inputs: the flow's variance joins the morning's window-flow variance; the morning's face-value flows keep their
    priors in the draws (today's flow is read with the morning's fit). No OI bound intraday (unknown)."""
    new = (with_contract_fields(flows.select("ticker")).filter(pl.col("expiry").is_in(morning.expiries))
           .select("ticker", "expiry", "strike", "right"))
    keys = pl.concat([morning.positions.select("ticker", "expiry", "strike", "right"), new]).unique("ticker")
    return (keys.join(morning.positions.drop("expiry", "strike", "right"), on="ticker", how="left")
            .join(flows, on="ticker", how="left")
            .with_columns(pl.col("dealer_position", *NUMERIC_DRAW_COLUMNS, "day_flow", "flow_variance").fill_null(0.0))
            .with_columns((pl.col("dealer_position") + pl.col("day_flow")).alias("dealer_position"),
                          (pl.col("window_flow") + pl.col("day_flow")).alias("window_flow"),
                          (pl.col("window_flow_sd") ** 2 + pl.col("flow_variance")).sqrt().alias("window_flow_sd"),
                          pl.col("open_interest").alias("open_interest_prev_close"),
                          pl.lit(None, dtype=pl.Int64).alias("open_interest"))
            .sort("expiry", "strike", "right"))


def live_exposures(morning: Morning, positions: pl.DataFrame, spot: float, now_ns: int, r: float,
                   q: float) -> pl.DataFrame:
    """Per-contract Greeks and dealer exposures at ``spot`` with time to expiry measured from ``now_ns``."""
    extra = positions.select("ticker", *DRAW_COLUMNS)
    book = (dealer_book(positions, morning.chain, morning.previous_close)
            .with_columns(tte_years_expr(pl.lit(now_ns), pl.col("expiry")).alias("tte_years"))
            .join(extra, on="ticker", how="left"))
    return contract_exposures(book, spot, r, q)


def levels_row(exposures: pl.DataFrame, spot: float, r: float, q: float, seed: int) -> tuple[dict, pl.DataFrame,
                                                                                               pl.DataFrame]:
    """(levels row, exposures by strike, gamma profile) of the live book: GEX at spot, flip, walls, regime and
    their bands over the position draws, as the batch's gamma_levels and market_structure compute them."""
    by_strike = exposures_by_strike(exposures)
    profile = gamma_profile(exposures, spot, r, q)
    flip = gamma_flip(exposures, spot, r, q, profile)
    bands = exposure_bands(exposures, position_draws(exposures, LIVE_DRAWS, seed), spot, r, q,
                           profile["spot"].to_numpy()[::BAND_GRID_EVERY])
    point = regime(exposures, spot, flip)
    row = {"spot": spot, "total_gex": float(exposures["gex"].sum()), "gamma_flip": flip, **walls(by_strike),
           "prob_dealers_long_gamma": bands.prob_dealers_long_gamma,
           **{f"total_gex_{k}": v for k, v in bands.total_gex.items()},
           "regime": regime_label(point.label, bands.total_gex), "point_regime": point.label}
    return row, by_strike, profile


def settled_at_close(positions: pl.DataFrame, day: dt.date) -> pl.DataFrame:
    """The book after the close of ``day``: contracts expiring that day have settled and leave it."""
    return positions.filter(pl.col("expiry") > day)
