"""Closing marks, parity forwards and closing implied vols, on a chain priced by hand with known vols."""

import datetime as dt

import numpy as np
import polars as pl

from spy_gamma.quant.closing_vols import closing_marks, contract_vols, fitted_chain
from spy_gamma.quant.contracts import occ_ticker
from spy_gamma.quant.expiry_time import session_close_ns, tte_years
from spy_gamma.quant.greeks import bsm_price

DAY, EXPIRY = dt.date(2025, 10, 3), dt.date(2025, 10, 10)
SPOT, R, Q = 661.4, 0.043, 0.011
CLOSE = session_close_ns(DAY)


def smile_vol(strike: float) -> float:
    """A skewed smile: 14% at the money, steeper on the put side."""
    k = np.log(strike / SPOT)
    return 0.14 - 0.35 * k + 1.5 * k * k


def priced_chain() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Trades and quotes of 20 contracts whose closing mids are BSM prices at ``smile_vol`` (+- half a cent)."""
    tte = tte_years(CLOSE, EXPIRY)
    trades, quotes = [], []
    for strike in range(640, 690, 5):
        for right in ("C", "P"):
            fair = float(bsm_price(SPOT, strike, tte, R, Q, smile_vol(strike), right == "C"))
            ticker = occ_ticker(EXPIRY, right, strike)
            trades.append((ticker, EXPIRY, float(strike), right, CLOSE - 600 * 10**9, round(fair, 2)))
            quotes.append((ticker, CLOSE - 10**9, fair - 0.05, fair + 0.05, 1))   # the last quote before the close
            quotes.append((ticker, CLOSE + 10**9, 0.01, 99.0, 2))                 # after the close: ignored
    trade_frame = pl.DataFrame(trades, schema=["ticker", "expiry", "strike", "right", "sip_timestamp", "price"],
                               orient="row")
    quote_frame = pl.DataFrame(quotes, schema=["ticker", "sip_timestamp", "bid_price", "ask_price", "sequence_number"],
                               orient="row")
    return trade_frame, quote_frame


def test_marks_are_last_two_sided_mid_before_the_close_else_last_trade():
    trades, quotes = priced_chain()
    no_quotes_for_one = quotes.filter(pl.col("ticker") != occ_ticker(EXPIRY, "C", 660))
    marks = closing_marks(trades, no_quotes_for_one, CLOSE)
    by_ticker = {row["ticker"]: row for row in marks.iter_rows(named=True)}
    lone = by_ticker[occ_ticker(EXPIRY, "C", 660)]
    assert lone["mark_source"] == "last_trade" and lone["mark"] == trades.filter(
        pl.col("ticker") == lone["ticker"])["price"][0]
    assert all(r["mark_source"] == "nbbo_mid" for t, r in by_ticker.items() if t != lone["ticker"])


def test_parity_forward_and_vols_recover_the_priced_smile():
    trades, quotes = priced_chain()
    vols = contract_vols(closing_marks(trades, quotes, CLOSE), SPOT, DAY, R, Q)
    carry_forward = SPOT * np.exp((R - Q) * tte_years(CLOSE, EXPIRY))
    # BSM prices satisfy parity exactly, so the parity forward is the carry forward (to float precision).
    assert abs(vols["forward"][0] - carry_forward) < 1e-9 and vols["forward_source"][0] == "parity"
    expected = np.array([smile_vol(k) for k in vols["strike"].to_numpy()])
    assert np.max(np.abs(vols["iv_market"].to_numpy() - expected)) < 1e-9
    assert (vols["iv_status"] == 0).all()


def test_fitted_chain_fills_a_dollar_ladder_and_keeps_market_vols():
    trades, quotes = priced_chain()
    chain = fitted_chain(contract_vols(closing_marks(trades, quotes, CLOSE), SPOT, DAY, R, Q))
    assert chain["strike"].min() == 640 and chain["strike"].max() == 685 and chain.height == 46 * 2
    quoted = chain.filter(pl.col("iv_market").is_not_null() & ~pl.col("rejected"))
    assert (quoted["iv"] == quoted["iv_market"]).all()
    gap = chain.filter(pl.col("strike") == 662.0).filter(pl.col("right") == "C")   # never quoted: from the fit
    assert abs(gap["iv"][0] - smile_vol(662.0)) < 0.003
