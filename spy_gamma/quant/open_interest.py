"""Read-only helpers on an open-interest panel (one row per contract and date, OI at the start of that day).

The panel has ``date, ticker, open_interest`` (``expiry`` is parsed from the ticker when absent). Day-over-day
changes feed open/close inference; expiries whose totals jump while the rest of the chain stays flat are
flagged as data glitches (e.g. the OCC scrape's SPY 2027 expiries doubling on 2026-08-24) and not trusted.
"""

from __future__ import annotations

import polars as pl

from spy_gamma.quant.contracts import with_contract_fields

GLITCH_UP = 1.6  # an expiry's total OI multiplying by more than this in one session is suspicious...
GLITCH_DOWN = 0.6  # ...as is falling below this share before it expires
CHAIN_BAND = 1.25  # ...when the rest of the chain moves by less than this factor
# ...and the change is material: a share of the whole chain's OI. The largest real one-day expiry build-up in the
# OCC sample (a 75k/150k/75k put ladder, 2026-10-30) adds 1.4% of the chain; the scrape glitches add 3-6%.
GLITCH_CHAIN_SHARE = 0.025
# Front expiries legitimately double or halve (the OCC sample's weeklies ~2x into expiry day): only expiries
# further out than this are tested.
GLITCH_MIN_DAYS_TO_EXPIRY = 14


def _with_expiry(panel: pl.DataFrame) -> pl.DataFrame:
    return panel if "expiry" in panel.columns else with_contract_fields(panel).drop("right", "strike")


def _next_dates(panel: pl.DataFrame) -> pl.DataFrame:
    """Each panel date with the following panel date (the last date has none)."""
    dates = panel.get_column("date").unique().sort()
    return pl.DataFrame({"date": dates, "next_date": dates.shift(-1)}).drop_nulls("next_date")


def expiry_totals(panel: pl.DataFrame) -> pl.DataFrame:
    """Total OI per ``date, expiry`` on the full date grid (0 where an expiry has no rows), with the previous date's."""
    by_expiry = _with_expiry(panel).group_by("date", "expiry").agg(pl.col("open_interest").sum().alias("total"))
    grid = by_expiry.select("date").unique().join(by_expiry.select("expiry").unique(), how="cross")
    return (
        grid.join(by_expiry, on=["date", "expiry"], how="left")
        .with_columns(pl.col("total").fill_null(0))
        .sort("expiry", "date")
        .with_columns(pl.col("total").shift(1).over("expiry").alias("previous_total"))
        .with_columns(
            pl.col("total").sum().over("date").alias("chain_total"),
            pl.col("previous_total").sum().over("date").alias("previous_chain_total"),
        )
    )


def flag_oi_glitches(panel: pl.DataFrame) -> pl.DataFrame:
    """Per ``date, expiry``: the jump ratio, the rest of the chain's ratio and ``glitch`` (bool).

    A glitch is an expiry more than ``GLITCH_MIN_DAYS_TO_EXPIRY`` days out (so expired series falling to 0 and front
    weeks building up are normal) with OI the session before, whose total
    moves beyond [``GLITCH_DOWN``, ``GLITCH_UP``] by at least ``GLITCH_CHAIN_SHARE`` of the chain's OI while the
    rest of the chain stays within ``CHAIN_BAND``.
    """
    totals = expiry_totals(panel).filter(pl.col("previous_total").is_not_null())
    ratio = pl.col("total") / pl.col("previous_total")
    rest_ratio = (pl.col("chain_total") - pl.col("total")) / (pl.col("previous_chain_total") - pl.col("previous_total"))
    material = (pl.col("total") - pl.col("previous_total")).abs() >= GLITCH_CHAIN_SHARE * pl.col("previous_chain_total")
    return totals.with_columns(ratio.alias("ratio"), rest_ratio.alias("rest_ratio")).with_columns(
        (
            ((pl.col("expiry") - pl.col("date")).dt.total_days() > GLITCH_MIN_DAYS_TO_EXPIRY)
            & (pl.col("previous_total") > 0)
            & ((pl.col("ratio") > GLITCH_UP) | (pl.col("ratio") < GLITCH_DOWN))
            & pl.col("rest_ratio").is_between(1 / CHAIN_BAND, CHAIN_BAND)
            & material
        ).alias("glitch")
    )


def daily_oi_changes(panel: pl.DataFrame) -> pl.DataFrame:
    """Per trading ``date`` and ``ticker``: ``oi_start``, ``oi_next`` (next panel date), ``oi_change``, ``oi_trusted``.

    A contract missing on one side of the pair has 0 OI there. The change is untrusted when its expiry is flagged
    as a glitch on either date. The next panel date is assumed to be the next trading day.
    """
    panel = _with_expiry(panel)
    pairs = _next_dates(panel)
    start = panel.join(pairs, on="date").select("date", "next_date", "ticker", "expiry",
                                                 pl.col("open_interest").alias("oi_start"))
    following = panel.join(pairs, left_on="date", right_on="next_date", suffix="_start").select(
        pl.col("date_start").alias("date"), pl.col("date").alias("next_date"), "ticker", "expiry",
        pl.col("open_interest").alias("oi_next"),
    )
    keys = ["date", "next_date", "ticker", "expiry"]
    glitches = flag_oi_glitches(panel).filter("glitch").select("date", "expiry", pl.lit(True).alias("glitch"))
    return (
        start.join(following, on=keys, how="full", coalesce=True)
        .with_columns(pl.col("oi_start", "oi_next").fill_null(0))
        .with_columns((pl.col("oi_next") - pl.col("oi_start")).alias("oi_change"))
        .join(glitches, on=["date", "expiry"], how="left")
        .join(glitches, left_on=["next_date", "expiry"], right_on=["date", "expiry"], how="left", suffix="_next")
        .with_columns((~(pl.col("glitch").fill_null(False) | pl.col("glitch_next").fill_null(False))).alias("oi_trusted"))
        .drop("glitch", "glitch_next")
        .sort("date", "ticker")
    )
