"""Per-expiry forwards implied by put-call parity, the way option markets quote vols (no dividend guess needed)."""

from __future__ import annotations

import polars as pl


def parity_forwards(marks: pl.DataFrame, r: float) -> pl.DataFrame:
    """``expiry, forward``: F = K + e^{rT} (C - P) at the strike where call and put marks are closest (near ATM).

    ``marks`` has ``expiry, strike, right, mark, tte_years`` and optionally ``two_sided`` (only two-sided NBBO
    mids are trusted for the pair). Expiries without a call/put pair are absent: callers fall back to carry.
    """
    if "two_sided" in marks.columns:
        marks = marks.filter("two_sided")
    calls = marks.filter(pl.col("right") == "C").select("expiry", "strike", "tte_years", pl.col("mark").alias("call"))
    puts = marks.filter(pl.col("right") == "P").select("expiry", "strike", pl.col("mark").alias("put"))
    return (calls.join(puts, on=["expiry", "strike"])
            .sort((pl.col("call") - pl.col("put")).abs())
            .group_by("expiry", maintain_order=True).first()
            .select("expiry", (pl.col("strike") + (pl.col("call") - pl.col("put"))
                               * (r * pl.col("tte_years")).exp()).alias("forward"))
            .sort("expiry"))


def with_forwards(frame: pl.DataFrame, forwards: pl.DataFrame, spot: float, r: float, q: float) -> pl.DataFrame:
    """Add ``forward`` per expiry (parity where available, else carry S e^{(r-q)T}) and ``forward_source``."""
    carry = spot * ((r - q) * pl.col("tte_years")).exp()
    return (frame.join(forwards, on="expiry", how="left")
            .with_columns(pl.when(pl.col("forward").is_null()).then(pl.lit("carry")).otherwise(pl.lit("parity"))
                          .alias("forward_source"),
                          pl.coalesce("forward", carry).alias("forward")))
