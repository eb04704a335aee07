"""Which contracts to quote: the feed allows 1,000 quoted contracts per connection, so the session quotes the
1,000 with the most gamma near spot and rotates the set when spot moves.

Gamma near spot is ranked by |ln(K/S)| / (sigma sqrt(T)), the distance from spot in standard deviations (per-share
BSM gamma falls monotonically with it at a given vol and expiry), sigma the contract's closing vol (its expiry's
median for strikes the chain lacks). Prints of contracts outside the set stay unquoted (signed from their
contract's book direction only) and are counted by the session; a rotation never invents the quote a newly
quoted contract had before it joined.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from spy_gamma.live.morning import Morning
from spy_gamma.quant.contracts import with_contract_fields
from spy_gamma.quant.expiry_time import tte_years_expr

QUOTE_LIMIT = 1000
ROTATE_MOVE = 0.0025  # re-rank when spot has moved 0.25% since the last ranking


def quoted_contracts(tickers: list[str], morning: Morning, spot: float, now_ns: int,
                     limit: int = QUOTE_LIMIT) -> list[str]:
    """The ``limit`` tickers nearest spot in standard deviations (ties by ticker)."""
    contracts = with_contract_fields(pl.DataFrame({"ticker": tickers})).join(
        morning.chain.select("ticker", "iv"), on="ticker", how="left")
    contracts = contracts.with_columns(
        pl.col("iv").fill_null(pl.col("iv").median().over("expiry")).fill_null(0.2),
        tte_years_expr(pl.lit(now_ns), pl.col("expiry")).alias("tte_years"))
    distance = np.abs(np.log(contracts["strike"].to_numpy() / spot)) / (
        contracts["iv"].to_numpy() * np.sqrt(contracts["tte_years"].to_numpy()))
    ranked = contracts.with_columns(pl.Series("distance", distance)).sort("distance", "ticker")
    return ranked["ticker"].head(limit).to_list()


class QuoteRotation:
    """The quoted set and the subscription changes a spot move calls for."""

    def __init__(self, morning: Morning, limit: int = QUOTE_LIMIT):
        self.morning, self.limit = morning, limit
        self.quoted: set[str] = set()
        self.rotated: set[str] = set()  # added or dropped after the first set
        self.ranked_at: float | None = None

    def initial(self, tickers: list[str], spot: float, now_ns: int) -> list[str]:
        """The first quoted set."""
        self.tickers = tickers
        self.quoted = set(quoted_contracts(tickers, self.morning, spot, now_ns, self.limit))
        self.ranked_at = spot
        return sorted(self.quoted)

    def changes(self, spot: float, now_ns: int) -> tuple[list[str], list[str]]:
        """(to subscribe, to unsubscribe) once spot has moved ROTATE_MOVE from the last ranking, else nothing."""
        if self.ranked_at is None or abs(spot / self.ranked_at - 1) < ROTATE_MOVE:
            return [], []
        wanted = set(quoted_contracts(self.tickers, self.morning, spot, now_ns, self.limit))
        added, dropped = sorted(wanted - self.quoted), sorted(self.quoted - wanted)
        self.quoted, self.ranked_at = wanted, spot
        self.rotated.update(added, dropped)
        return added, dropped

    def quoted_all_day(self) -> set[str]:
        """Contracts quoted from the first subscription on, never rotated out."""
        return self.quoted - self.rotated
