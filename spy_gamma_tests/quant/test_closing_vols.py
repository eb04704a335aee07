"""Closing marks and closing implied vols, on chains priced by hand with known vols at known moments and spots."""

import datetime as dt

import numpy as np
import polars as pl
import pytest

from spy_gamma.quant.closing_vols import MAX_MARK_AGE_S, closing_marks, contract_vols, fitted_chain, mark_ages
from spy_gamma.quant.contracts import occ_ticker
from spy_gamma.quant.expiry_time import session_close_ns, tte_years
from spy_gamma.quant.greeks import bsm_price
from spy_gamma.quant.implied_vol import implied_vol

DAY, EXPIRY = dt.date(2025, 10, 3), dt.date(2025, 10, 10)
SPOT, R, Q = 661.4, 0.043, 0.011
CLOSE = session_close_ns(DAY)
MINUTE = 60 * 10**9


def smile_vol(strike: float) -> float:
    """A skewed smile by strike: 14% at 661.4, steeper on the put side."""
    k = np.log(strike / SPOT)
    return 0.14 - 0.35 * k + 1.5 * k * k


def minute_bars(closes: dict[int, float], default: float = SPOT) -> pl.DataFrame:
    """Regular-session bars 09:30-15:59 ET closing at ``default`` except {minutes before 16:00: close}, plus a
    04:00 pre-market and a 16:00-16:05 post-market bar at absurd prices that must never be used."""
    starts = [CLOSE - m * MINUTE for m in range(390, 0, -1)]
    rows = [(s, closes.get((CLOSE - s) // MINUTE, default), closes.get((CLOSE - s) // MINUTE, default))
            for s in starts]
    rows += [(CLOSE - 720 * MINUTE, 500.0, 500.0), (CLOSE, 900.0, 900.0), (CLOSE + 5 * MINUTE, 900.0, 900.0)]
    return pl.DataFrame(rows, schema=["window_start", "open", "close"], orient="row").sort("window_start")


def priced_chain(moments: dict[int, tuple[int, float]] | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Trades and quotes of 20 contracts whose last mids are BSM prices at ``smile_vol``.

    ``moments`` maps a strike to (quote time in ns before the close, spot then); by default every strike is quoted
    one second before the close at SPOT. Each mid is priced at its own moment's spot and time to expiry.
    """
    moments = moments or {}
    trades, quotes = [], []
    for strike in range(640, 690, 5):
        before, spot = moments.get(strike, (10**9, SPOT))
        tte = tte_years(CLOSE - before, EXPIRY)
        for right in ("C", "P"):
            fair = float(bsm_price(spot, strike, tte, R, Q, smile_vol(strike), right == "C"))
            ticker = occ_ticker(EXPIRY, right, strike)
            trades.append((ticker, EXPIRY, float(strike), right, CLOSE - 3600 * 10**9, round(fair, 2)))
            quotes.append((ticker, CLOSE - before, fair - 0.05, fair + 0.05, 1))  # the last quote before the close
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
    assert lone["mark_timestamp"] == CLOSE - 3600 * 10**9 and not lone["two_sided"]  # the trade's own time
    others = [r for t, r in by_ticker.items() if t != lone["ticker"]]
    assert all(r["mark_source"] == "nbbo_mid" and r["mark_timestamp"] == CLOSE - 10**9 for r in others)


def test_parity_forward_and_vols_recover_the_priced_smile():
    trades, quotes = priced_chain()
    vols = contract_vols(closing_marks(trades, quotes, CLOSE), minute_bars({}), DAY, R, Q)
    carry_forward = SPOT * np.exp((R - Q) * tte_years(CLOSE, EXPIRY))
    # BSM prices satisfy parity exactly, so the parity forward is the carry forward and its carry is q.
    assert vols["forward"][0] == pytest.approx(carry_forward, abs=1e-9) and vols["forward_source"][0] == "parity"
    assert vols["carry_q"].to_numpy() == pytest.approx(Q, abs=1e-9)
    assert vols["forward_pairs"][0] == 9 and vols["forward_spread"][0] == pytest.approx(0.0, abs=1e-9)
    assert vols["spot"][0] == SPOT  # the 15:59 bar's close, not the 16:00 post-market bar at 900
    expected = np.array([smile_vol(k) for k in vols["strike"].to_numpy()])
    assert np.max(np.abs(vols["iv_market"].to_numpy() - expected)) < 1e-9
    assert (vols["iv_status"] == 0).all() and not vols["stale"].any()


def test_each_mark_is_inverted_at_its_own_moment_and_spot():
    # Strikes 640-660 were last quoted at 15:40:30 ET (19.5 min before the close) when SPY stood at 658.0: the
    # 15:39 bar, the last completed one, closed at 658.0; the 15:40 bar that holds the quote closed at 659.0.
    # Strikes 665-685 at 15:59:59 with spot 661.4 (the 15:58 bar; the 15:59 bar also closes at 661.4).
    early = {k: (int(19.5 * 60 * 10**9), 658.0) for k in range(640, 665, 5)}
    trades, quotes = priced_chain(early)
    bars = minute_bars({21: 658.0, 20: 659.0})  # 21 minutes before 16:00 is the 15:39 bar
    vols = contract_vols(closing_marks(trades, quotes, CLOSE), bars, DAY, R, Q)
    expected = np.array([smile_vol(k) for k in vols["strike"].to_numpy()])
    assert np.max(np.abs(vols["iv_market"].to_numpy() - expected)) < 1e-9
    early_rows = vols.filter(pl.col("strike") < 665)
    assert (early_rows["mark_spot"] == 658.0).all() and (early_rows["mark_age_s"] == 19.5 * 60).all()
    # The forward is read at each pair's moment and restated to the close at the same carry: still the carry forward.
    assert vols["carry_q"].to_numpy() == pytest.approx(Q, abs=1e-9)
    # Inverting the early marks at the 16:00 spot (the old way) is off by far more than a vol point near the money.
    at_close = implied_vol(early_rows["mark"].to_numpy(), SPOT, early_rows["strike"].to_numpy(),
                           tte_years(CLOSE, EXPIRY), R, Q, (early_rows["right"] == "C").to_numpy())
    assert np.nanmax(np.abs(at_close - early_rows["iv_market"].to_numpy())) > 0.01


def test_marks_older_than_the_limit_are_refused_and_counted():
    # Strikes 640 and 645 last quoted 45 minutes before the close (> 30 min): refused, 4 contracts.
    # Ages (s): 16 contracts at 1, 4 at 2700 -> median 1, p90 (linear, 20 values: position 17.1) = 2700.
    stale = dict.fromkeys((640, 645), (45 * 60 * 10 ** 9, SPOT))
    trades, quotes = priced_chain(stale)
    vols = contract_vols(closing_marks(trades, quotes, CLOSE), minute_bars({}), DAY, R, Q)
    refused = vols.filter(pl.col("stale"))
    assert sorted(refused["strike"].unique().to_list()) == [640.0, 645.0] and refused.height == 4
    assert refused["iv_market"].null_count() == 4 and (refused["iv_status"] == 0).all()
    assert mark_ages(vols) == {"mark_age_median_s": 1.0, "mark_age_p90_s": 2700.0, "marks_refused_stale": 4,
                               "max_mark_age_s": MAX_MARK_AGE_S}
    chain = fitted_chain(vols)
    gap = chain.filter((pl.col("strike") == 645.0) & (pl.col("right") == "P"))
    assert gap["iv_source"][0] == "smile" and abs(gap["iv"][0] - smile_vol(645.0)) < 0.003


def test_fitted_chain_uses_out_of_the_money_vols_only():
    trades, quotes = priced_chain()
    # The 680 put is deep in the money: give its quotes an American early-exercise premium of $0.40.
    itm_put = occ_ticker(EXPIRY, "P", 680)
    quotes = quotes.with_columns(pl.when(pl.col("ticker") == itm_put).then(pl.col(c) + 0.40).otherwise(pl.col(c))
                                 for c in ("bid_price", "ask_price"))
    vols = contract_vols(closing_marks(trades, quotes, CLOSE), minute_bars({}), DAY, R, Q)
    chain = fitted_chain(vols)
    assert chain["strike"].min() == 640 and chain["strike"].max() == 685 and chain.height == 46 * 2
    assert {"forward", "carry_q", "spot", "forward_pairs", "mark_age_s", "stale", "iv_source"} <= set(chain.columns)
    put = chain.filter(pl.col("ticker") == itm_put).row(0, named=True)
    assert put["iv_market"] > smile_vol(680.0) + 0.01          # the premium read as vol ...
    assert put["iv_source"] == "smile" and abs(put["iv"] - smile_vol(680.0)) < 0.003  # ... is not what Greeks use
    otm = chain.filter(pl.col("iv_source") == "market")
    assert otm.height == 10 and (otm["iv"] == otm["iv_market"]).all()  # one OTM side per quoted strike
    assert ((otm["right"] == "C") == (otm["strike"] >= otm["forward"])).all()
    gap = chain.filter(pl.col("strike") == 662.0).filter(pl.col("right") == "C")   # never quoted: from the fit
    assert abs(gap["iv"][0] - smile_vol(662.0)) < 0.003


def test_an_expiry_with_only_stale_marks_is_fitted_on_them_rather_than_dropped():
    # Every strike last quoted 45 minutes before the close (SPY then at 660.0, at 661.4 by the close): no fresh mark
    # to fit, so the smile is fitted on the stale marks, each inverted at its own moment (660.0, 45 min more to
    # expiry), and the forward comes from the stale pairs restated to the close: still the carry forward.
    trades, quotes = priced_chain(dict.fromkeys(range(640, 690, 5), (45 * 60 * 10 ** 9, 660.0)))
    bars = minute_bars(dict.fromkeys(range(44, 391), 660.0))  # 660.0 until 15:16, 661.4 after
    vols = contract_vols(closing_marks(trades, quotes, CLOSE), bars, DAY, R, Q)
    assert vols["stale"].all() and vols["iv_market"].null_count() == vols.height
    assert (vols["mark_spot"] == 660.0).all() and vols["forward_source"][0] == "parity"
    assert vols["carry_q"].to_numpy() == pytest.approx(Q, abs=1e-9)
    assert np.max(np.abs(vols["iv_stale"].to_numpy() - [smile_vol(k) for k in vols["strike"]])) < 1e-9
    chain = fitted_chain(vols)
    assert (chain["iv_source"] == "stale_smile").all()
    gap = chain.filter((pl.col("strike") == 662.0) & (pl.col("right") == "C"))
    assert abs(gap["iv"][0] - smile_vol(662.0)) < 0.003
