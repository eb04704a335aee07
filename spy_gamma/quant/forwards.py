"""Per-expiry forwards implied by put-call parity, the way option markets quote vols (no dividend guess needed).

Each call/put pair at strike K gives F_K = K + e^{rT} (C - P). One pair can carry a stale or bad mark, so the
forward is a robust estimate over the FORWARD_PAIRS pairs nearest the money: pairs whose marks break the
monotonicity of call and put prices in strike are dropped, the rest screened with a Hampel identifier (median
+- OUTLIER_MADS robust sigmas) and the forward is the median of what is kept.
"""

from __future__ import annotations

import numpy as np
import polars as pl

FORWARD_PAIRS = 9  # about +-$4 around the money on SPY's $1 strikes: enough pairs for a median to outvote two bad ones
OUTLIER_MADS = 3.0  # the Hampel identifier's conventional cut, in robust sigmas
MIN_TOLERANCE_USD = 0.02  # never reject closer than this: two legs each a $0.01 tick off move F_K by ~2 cents
MAD_TO_SIGMA = 1.4826  # MAD of a normal sample x 1.4826 = its standard deviation
FORWARD_COLUMNS = {"expiry": pl.Date, "forward": pl.Float64, "forward_pairs": pl.UInt32,
                   "forward_spread": pl.Float64}


def parity_forwards(marks: pl.DataFrame, r: float, spot: float | None = None) -> pl.DataFrame:
    """``expiry, forward, forward_pairs, forward_spread``: robust put-call-parity forward per expiry.

    ``marks`` has ``expiry, strike, right, mark, tte_years`` and optionally ``two_sided`` (only two-sided NBBO
    mids are trusted). forward_pairs counts the pairs kept, forward_spread is their robust dispersion (MAD x
    1.4826, $). With ``spot`` (the close), marks also carry ``mark_spot, mark_tte_years`` (spot and time to expiry
    when each was marked): each pair's forward is read at its own moment and restated to the close at the same
    carry, F = spot (F_K / S_K)^(T / T_K). Expiries without a usable pair are absent: callers fall back to carry.
    """
    if "two_sided" in marks.columns:
        marks = marks.filter("two_sided")
    pairs = _pairs(marks, r, restated=spot is not None)
    if spot is not None:
        pairs = pairs.with_columns((spot * (pl.col("pair_forward") / pl.col("pair_spot"))
                                    .pow(pl.col("tte_years") / pl.col("pair_tte"))).alias("pair_forward"))
    rows = [_robust_forward(expiry, rows) for (expiry,), rows in pairs.partition_by("expiry", as_dict=True).items()]
    rows = [row for row in rows if row is not None]
    return pl.DataFrame(rows, schema=FORWARD_COLUMNS, orient="row").sort("expiry")


def _pairs(marks: pl.DataFrame, r: float, restated: bool) -> pl.DataFrame:
    """Call/put pairs per strike with F_K = K + e^{r T_K} (C - P); T_K and S_K are the means of the two legs'
    ``mark_tte_years`` and ``mark_spot`` when ``restated``, else every mark is at ``tte_years``."""
    moment = ["mark_spot", "mark_tte_years"] if restated else []
    legs = marks.select("expiry", "strike", "right", "mark", "tte_years", *moment)
    calls = legs.filter(pl.col("right") == "C").drop("right")
    puts = legs.filter(pl.col("right") == "P").drop("right", "tte_years")
    pairs = calls.join(puts, on=["expiry", "strike"], suffix="_put")
    if restated:
        pairs = pairs.with_columns(((pl.col("mark_tte_years") + pl.col("mark_tte_years_put")) / 2).alias("pair_tte"),
                                   ((pl.col("mark_spot") + pl.col("mark_spot_put")) / 2).alias("pair_spot"))
    else:
        pairs = pairs.with_columns(pl.col("tte_years").alias("pair_tte"))
    return pairs.with_columns(
        (pl.col("strike") + (pl.col("mark") - pl.col("mark_put")) * (r * pl.col("pair_tte")).exp())
        .alias("pair_forward")).filter(pl.col("pair_forward") > 0)


def _robust_forward(expiry, pairs: pl.DataFrame) -> tuple | None:
    """(expiry, forward, pairs kept, spread) from one expiry's pairs, or None when none is usable."""
    pairs = pairs.sort("strike")
    monotone = ~(_breaks_order(pairs["mark"].to_numpy()) | _breaks_order(-pairs["mark_put"].to_numpy()))
    nearest = pairs.filter(pl.Series(monotone)).sort((pl.col("mark") - pl.col("mark_put")).abs()).head(FORWARD_PAIRS)
    if nearest.is_empty():
        return None
    forwards = nearest["pair_forward"].to_numpy()
    centre = np.median(forwards)
    tolerance = max(OUTLIER_MADS * MAD_TO_SIGMA * np.median(np.abs(forwards - centre)), MIN_TOLERANCE_USD)
    kept = forwards[np.abs(forwards - centre) <= tolerance]
    forward = float(np.median(kept))
    return expiry, forward, kept.size, float(MAD_TO_SIGMA * np.median(np.abs(kept - forward)))


def _breaks_order(values: np.ndarray) -> np.ndarray:
    """Interior points out of a non-increasing sequence (call marks by strike) while both neighbours agree.

    A point is blamed only when its two neighbours are in order with each other, so one bad mark does not
    take its honest neighbours down with it; end points are left to the outlier screen.
    """
    out = np.zeros(values.size, dtype=bool)
    if values.size >= 3:
        left, middle, right = values[:-2], values[1:-1], values[2:]
        out[1:-1] = (left >= right) & ((middle > left) | (middle < right))
    return out


def with_forwards(frame: pl.DataFrame, forwards: pl.DataFrame, spot: float, r: float, q: float) -> pl.DataFrame:
    """Add per expiry ``forward, forward_pairs, forward_spread, forward_source, carry_q``.

    The parity forward where available, else carry S e^{(r-q)T} (``forward_source`` says which, no pairs, null
    spread). carry_q = r - ln(F/S)/T is the continuous carry that puts spot S on that forward: pricing each
    contract at (S, carry_q) prices it at the forward its vol was implied against, and a spot move moves the
    forward with it.
    """
    carry = spot * ((r - q) * pl.col("tte_years")).exp()
    return (frame.join(forwards, on="expiry", how="left")
            .with_columns(pl.when(pl.col("forward").is_null()).then(pl.lit("carry")).otherwise(pl.lit("parity"))
                          .alias("forward_source"),
                          pl.coalesce("forward", carry).alias("forward"),
                          pl.col("forward_pairs").fill_null(0))
            .with_columns((r - (pl.col("forward") / spot).log() / pl.col("tte_years")).alias("carry_q")))
