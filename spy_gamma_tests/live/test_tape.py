"""The session tape: Polygon events back to frames, prevailing quotes, duplicates and out-of-order delivery."""

import datetime as dt
import random

import polars as pl

from spy_gamma.live.messages import quotes_frame, to_ns, trades_frame
from spy_gamma.live.tape import MINUTE_NS, SessionTape

DAY = dt.date(2025, 10, 3)
OPEN = 1759498200 * 10 ** 9  # 09:30 ET on 2025-10-03
TICKER = "O:SPY251006C00665000"


def trade(t_s: float, price: float, size: int, seq: int) -> dict:
    return {"ev": "T", "sym": TICKER, "x": 300, "p": price, "s": size, "c": [209], "t": OPEN + int(t_s * 1e9), "q": seq}


def quote(t_s: float, bid: float, ask: float, seq: int) -> dict:
    return {"ev": "Q", "sym": TICKER, "bx": 301, "bp": bid, "bs": 10, "ax": 302, "ap": ask, "as": 20,
            "t": OPEN + int(t_s * 1e9), "q": seq}


def test_events_read_back_with_contract_fields_and_millisecond_stamps():
    trades = trades_frame([{**trade(1, 2.5, 3, 7), "t": 1759498201000}])  # Polygon's own milliseconds
    assert trades.row(0, named=True) == {
        "ticker": TICKER, "sip_timestamp": 1759498201 * 10 ** 9, "price": 2.5, "size": 3, "exchange": 300,
        "conditions": 209, "sequence": 7, "expiry": dt.date(2025, 10, 6), "right": "C", "strike": 665.0}
    assert to_ns(1759498201000) == to_ns(1759498201 * 10 ** 9)
    quotes = quotes_frame([quote(1, 2.4, 2.6, 1)])
    assert quotes.select("bid_price", "ask_price", "bid_size", "ask_size").row(0) == (2.4, 2.6, 10, 20)


def test_print_pairs_with_last_quote_at_or_before_it_whatever_its_age():
    tape = SessionTape(DAY)
    # quotes at 1 s, 4 s (the prevailing one for a print at 5 s: 1 s old) and 6 s (after the print)
    tape.add(trades_frame([trade(5, 2.55, 1, 1)]),
             quotes_frame([quote(1, 2.0, 2.2, 1), quote(4, 2.5, 2.6, 2), quote(6, 3.0, 3.2, 3)]))
    closed = tape.close_through(OPEN + MINUTE_NS)
    row = closed.row(0, named=True)
    assert (row["bid_price"], row["ask_price"], row["quote_age_ns"]) == (2.5, 2.6, 1_000_000_000)
    assert row["quote_vote"] == 0  # 2.55 is the mid of 2.50/2.60: the quote cannot vote


def test_quote_from_an_earlier_minute_still_prevails():
    tape = SessionTape(DAY)
    tape.add(trades_frame([]), quotes_frame([quote(10, 1.0, 1.2, 1)]))
    tape.close_through(OPEN + MINUTE_NS)
    tape.add(trades_frame([trade(200, 1.2, 2, 1)]), quotes_frame([]))  # three minutes later, at the ask
    closed = tape.close_through(OPEN + 4 * MINUTE_NS)
    assert closed["ask_price"].to_list() == [1.2] and closed["quote_vote"].to_list() == [1]


def test_duplicates_and_shuffled_delivery_close_the_same_prints_as_in_order():
    rng = random.Random(3)
    events = []
    for i in range(400):  # a print and a quote every ~0.7 s for ~5 minutes
        events.append(quote(i * 0.7, 2.0 + (i % 7) * 0.01, 2.2 + (i % 7) * 0.01, i))
        events.append(trade(i * 0.7 + 0.3, 2.0 + rng.choice([0, 0.1, 0.2]) + (i % 7) * 0.01, 1 + i % 5, i))

    def run(stream: list[dict]) -> tuple[pl.DataFrame, SessionTape]:
        tape = SessionTape(DAY)
        for start in range(0, len(stream), 25):
            chunk = stream[start:start + 25]
            tape.add(trades_frame([e for e in chunk if e["ev"] == "T"]), quotes_frame([e for e in chunk if e["ev"] == "Q"]))
            for end in tape.closable_steps():
                tape.close_through(end)
        for end in tape.closable_steps(through_ns=OPEN + 10 * MINUTE_NS):
            tape.close_through(end)
        return tape.all_prints(), tape

    clean, _ = run(events)
    faulty = []
    for start in range(0, len(events), 6):  # shuffled within blocks of 6 events (~2 s); every 5th print sent twice
        block = [e for i, e in enumerate(events[start:start + 6]) for e in ([e, e] if (start + i) % 10 == 1 else [e])]
        rng.shuffle(block)
        faulty.extend(block)
    replayed, tape = run(faulty)
    assert clean.height == 400 and replayed.height == 400 and tape.duplicates == 80  # odd events are prints
    assert replayed.select("sequence", "bid_price", "ask_price", "quote_vote").equals(
        clean.select("sequence", "bid_price", "ask_price", "quote_vote"))
