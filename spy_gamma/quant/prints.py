"""A session's prints, classified: prevailing quote, P(customer bought), dealer flow expectation, open/close.

The composition the daily ``classified_trades`` asset and the live path share, so both sign alike.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import polars as pl

from spy_gamma.quant.expiry_time import tte_years_expr
from spy_gamma.quant.open_close import infer_open_close
from spy_gamma.quant.open_interest import daily_oi_changes
from spy_gamma.quant.pairing import pair_with_quotes
from spy_gamma.quant.signing import SignedSession, sign_session


def classify_prints(trades: pl.DataFrame, quotes: pl.DataFrame, oi_panel: pl.DataFrame | None,
                    day: dt.date) -> SignedSession:
    """Every print of ``day`` with its quote, ``p_customer_buy``, dealer-flow expectation, open/close and tte,
    and each contract's dealer-flow moments.

    ``oi_panel`` is ``date, ticker, open_interest`` for ``day`` and the next session (None when unpublished).
    """
    session = sign_session(pair_with_quotes(trades, quotes))
    oi_changes = daily_oi_changes(oi_panel) if oi_panel is not None and not oi_panel.is_empty() else None
    prints = infer_open_close(session.prints, day, oi_changes).with_columns(
        tte_years_expr(pl.col("sip_timestamp"), pl.col("expiry")).alias("tte_years"))
    return replace(session, prints=prints)
