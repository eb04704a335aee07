"""What a live session starts from, read from the lake: the previous close's dealer book, vols and signing fit, the
window's earlier evidence, and the contracts to subscribe to.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from spy_gamma.defs.partitions import window_sessions
from spy_gamma.lake import Lake, LakeError
from spy_gamma.quant.contracts import ticker_expr
from spy_gamma.quant.positions import DAY_CLASS_SCHEMA, day_classes
from spy_gamma.quant.signing import BLOCK_FLOWS, FACE_VALUE_FLOWS, LEAN_COLUMNS, SigningFit, in_units_of
from spy_gamma.quant.uncertainty import DRAW_COLUMNS
from spy_gamma.trading_calendar import next_trading_day, previous_trading_day

POSITION_COLUMNS = ["ticker", "expiry", "strike", "right", "dealer_position", "open_interest", *DRAW_COLUMNS]
LADDER_PCT, LADDER_STEP = 0.10, 0.5  # trades are subscribed on every $0.50 strike within 10% of the last close


@dataclass(frozen=True)
class Morning:
    """The session's starting point: book at the previous close (target expiries), its chain, fit and evidence."""

    day: dt.date
    previous_close: dt.date
    expiries: list[dt.date]
    positions: pl.DataFrame  # POSITION_COLUMNS
    chain: pl.DataFrame  # contract_iv of the previous close
    fit: SigningFit
    prior_groups: pl.DataFrame  # vote_groups of the window's sessions before ``day``, with their day classes
    day_classes: pl.DataFrame  # today's contract-day classes (quant.positions.day_classes): only in hindsight
    close_spot: float
    hindsight: bool = False

    @classmethod
    def from_lake(cls, lake: Lake, day: dt.date, expiries: list[dt.date], hindsight: bool = False) -> Morning:
        """The previous close's batch outputs; ``hindsight`` takes the book and fit of ``day``'s own batch run at the
        previous close instead (its position path): the start that makes the live close comparable print for print
        with that run (a reconciliation, not a forecast)."""
        before = previous_trading_day(day)
        if hindsight:
            path = lake.read("position_path", day).filter(pl.col("date") == before)
            unknown = ("window_flow_sd", *FACE_VALUE_FLOWS, *LEAN_COLUMNS, "direction_sd")
            positions = path.with_columns(pl.col("net_dealer_flow").alias("window_flow"),
                                          *(pl.lit(0.0).alias(c) for c in unknown),
                                          pl.col("ticker").alias("direction_key"),
                                          pl.lit(None, dtype=pl.List(pl.Float64)).alias(BLOCK_FLOWS))
            fit_key = day
        else:
            positions, fit_key = lake.read("dealer_positions", before), before
        fit = SigningFit.from_dict(json.loads(lake.read("signing_fit", fit_key)["fit_json"][0]))
        chain = lake.read("contract_iv", before)
        sessions = [d for d in window_sessions(day) if d < day]
        classes = _day_classes(lake, [*sessions, day] if hindsight else sessions)
        prior = lake.read_days("vote_groups", sessions, missing_ok=True)
        prior = prior.join(classes, on=["date", "ticker"], how="left") if prior.height else prior
        morning = cls(day=day, previous_close=before, expiries=sorted(expiries),
                      positions=positions.filter(pl.col("expiry").is_in(expiries)).select(POSITION_COLUMNS),
                      chain=chain, fit=fit, prior_groups=prior, day_classes=classes.filter(pl.col("date") == day),
                      close_spot=float(chain["spot"][0]), hindsight=hindsight)
        if not prior.height:
            return morning
        # with the fit fixed, direction units sign independently: keep the units the feed's contracts belong to
        universe = pl.DataFrame({"ticker": morning.trade_universe(lake)})
        return replace(morning, prior_groups=in_units_of(prior, universe, fit.direction_unit))

    def trade_universe(self, lake: Lake) -> list[str]:
        """Every SPY contract of the target expiries the feed could print: those held, priced at the close or open
        at the start of the day, and every $0.50 strike within 10% of the close (new listings)."""
        known = [self.positions["ticker"], self.chain.filter(pl.col("expiry").is_in(self.expiries))["ticker"]]
        opening = lake.read_if_present("open_interest", self.day)
        if opening is not None:
            known.append(opening.filter(pl.col("expiry").is_in(self.expiries))["ticker"])
        strikes = np.arange(np.floor(self.close_spot * (1 - LADDER_PCT)), self.close_spot * (1 + LADDER_PCT),
                            LADDER_STEP)
        ladder = pl.DataFrame({"expiry": self.expiries}).join(
            pl.DataFrame({"right": ["C", "P"]}), how="cross").join(pl.DataFrame({"strike": strikes}), how="cross")
        known.append(ladder.select(ticker_expr(pl.col("expiry"), pl.col("right"), pl.col("strike")))
                     .to_series().alias("ticker"))
        return sorted(set(pl.concat(known).to_list()))


def target_expiries(lake: Lake, day: dt.date) -> list[dt.date]:
    """The batch run's target expiries at the previous close still alive on ``day`` (its rule or its run config)."""
    before = previous_trading_day(day)
    try:
        chosen = lake.read("target_expiries", before)["expiry"].to_list()
    except LakeError:
        chosen = lake.read("target_expiries", day)["expiry"].to_list()
    return [e for e in chosen if e >= day]


def _day_classes(lake: Lake, sessions: list[dt.date]) -> pl.DataFrame:
    """Each contract-day's class over ``sessions``, as the batch fit read it. Live, today is not among them (its OI
    change is known only from tomorrow's file): today's prints are of unknown class; a hindsight replay has the
    file."""
    if not sessions:
        return pl.DataFrame(schema=DAY_CLASS_SCHEMA)
    after = next_trading_day(sessions[-1])
    return day_classes(lake.read_days("open_interest", [*sessions, after], missing_ok=True), sessions, after)
