"""A simulated session replayed through the local WebSocket server: the live book at the close against the batch
run's book for that day, and the feed's faults (disconnects, duplicates, out-of-order, slow consumer, bad key).

The shared ``pipeline_run`` (as of Sunday 2025-10-05) materializes the as-of close 2025-10-03, the last session:
that is the replayed day. Started from that run's own book at the previous close and its fit (``hindsight``), the
same prints must give the same positions, up to the stored fit's 4-decimal rounding.
"""

import datetime as dt
import shutil
import time

import polars as pl
import pytest

from spy_gamma.lake import Lake
from spy_gamma.live.client import AuthFailed, Feed
from spy_gamma.live.morning import Morning, target_expiries
from spy_gamma.live.replay_server import Faults, ReplayServer, Tape
from spy_gamma.live.run import replay_session, stream
from spy_gamma.live.session import LiveSession, LiveSettings

DAY = dt.date(2025, 10, 3)
COARSE = LiveSettings(step_ns=1800 * 10 ** 9)  # the close's book does not depend on the step: keep replays short
FIT_ROUNDING = 0.01  # contracts: the lake stores the signing fit's reliabilities to 4 decimals

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def replay_lake(pipeline_run, tmp_path_factory):
    """A copy of the batch run's lake (live tables land here, not in the shared run) and its flat files."""
    data = tmp_path_factory.mktemp("live")
    shutil.copytree(pipeline_run["data"] / "lake", data / "lake")
    shutil.copy(pipeline_run["data"] / "spy_gamma.duckdb", data / "spy_gamma.duckdb")  # views: relative globs
    return Lake(data), pipeline_run["data"] / "flatfiles" / "simulated"


def batch_trades(lake: Lake, expiries: list[dt.date]) -> pl.DataFrame:
    return lake.read("spy_trades", DAY).filter(pl.col("expiry").is_in(expiries))


def batch_prints(lake: Lake, expiries: list[dt.date]) -> int:
    return batch_trades(lake, expiries).height


def test_live_book_at_the_close_equals_the_batch_book(replay_lake):
    lake, flatfiles = replay_lake
    expiries = target_expiries(lake, DAY)
    session, summary = replay_session(lake, flatfiles, DAY, expiries, speed=0, settings=COARSE, hindsight=True)
    assert session.levels[-1]["prints"] == batch_prints(lake, expiries) and session.gaps == []
    assert summary["batch_available"] and summary["compared"] >= 300
    assert summary["max_abs_difference"] < FIT_ROUNDING and summary["differing"] == 0
    # the snapshots are in the lake and queryable in DuckDB while (and after) the session runs
    steps = lake.query("select count(*) as n, max(prints) as prints from live_levels").row(0, named=True)
    assert steps == {"n": len(session.levels), "prints": batch_prints(lake, expiries)}
    flow = lake.query("select distinct \"group\" from live_flow")["group"].to_list()
    assert {"all", "calls", "puts", "0dte"} <= set(flow)


def test_duplicates_and_out_of_order_delivery_change_nothing(replay_lake):
    lake, flatfiles = replay_lake
    expiries = target_expiries(lake, DAY)
    tolerant = LiveSettings(step_ns=COARSE.step_ns, lateness_ns=600 * 10 ** 9)  # the shuffle spans minutes here
    session, summary = replay_session(lake, flatfiles, DAY, expiries, speed=0, settings=tolerant, hindsight=True,
                                      faults=Faults(duplicate_every=7, shuffle_block=4))
    assert session.tape.duplicates > 50 and session.tape.late_prints == 0
    assert session.levels[-1]["prints"] == batch_prints(lake, expiries)
    assert summary["max_abs_difference"] < FIT_ROUNDING and summary["differing"] == 0


def test_a_disconnect_is_a_recorded_gap_never_filled(replay_lake):
    lake, flatfiles = replay_lake
    expiries = target_expiries(lake, DAY)
    # at 3000x the 0.5 s reconnect backoff costs ~25 minutes of the session: those prints are lost
    session, summary = replay_session(lake, flatfiles, DAY, expiries, speed=3000, settings=COARSE, hindsight=True,
                                      faults=Faults(disconnect_after=400, disconnects=1))
    assert len(session.gaps) == 1
    gap = session.gaps[0]
    assert gap["to_ns"] - gap["from_ns"] > 10 * 60 * 10 ** 9 and gap["seconds_down"] >= 0.5
    assert lake.read("live_gaps", DAY).height == 1
    assert session.levels[-1]["prints"] < batch_prints(lake, expiries) and session.levels[-1]["gaps"] == 1
    # the missed prints show in the reconciliation: contracts that traded in the gap differ from the batch book
    # (most of them belong to units the summary's comparison excuses, so whether `differing` counts one depends on
    # which minutes the gap took)
    missed = batch_trades(lake, expiries).filter(pl.col("sip_timestamp").is_between(gap["from_ns"], gap["to_ns"]))
    reconciled = lake.read("live_reconciliation", DAY).filter(pl.col("ticker").is_in(missed["ticker"].unique().to_list()))
    assert missed.height > 0 and (reconciled["difference"].abs() > FIT_ROUNDING).sum() > 0


class SlowSession(LiveSession):
    """A consumer that takes 0.3 s over every message."""

    def on_events(self, events):
        time.sleep(0.3)
        super().on_events(events)


def test_a_slow_consumer_is_cut_off_and_the_gap_recorded(replay_lake):
    lake, flatfiles = replay_lake
    morning = Morning.from_lake(lake, DAY, target_expiries(lake, DAY), hindsight=True)
    session = SlowSession(lake, morning, COARSE)
    universe = morning.trade_universe(lake)
    with ReplayServer(Tape.from_flatfiles(flatfiles, DAY), "key", speed=2000, faults=Faults(max_lag_s=1.0)) as url:
        stream(session, [Feed(url, lambda: session.channels(universe))], "key", max_connections=2)
    assert session.gaps and session.gaps[0]["from_ns"] < session.gaps[0]["to_ns"]


def test_a_refused_key_fails_at_once_and_never_shows(replay_lake):
    lake, flatfiles = replay_lake
    morning = Morning.from_lake(lake, DAY, target_expiries(lake, DAY), hindsight=True)
    session = LiveSession(lake, morning, COARSE)
    server = ReplayServer(Tape.from_flatfiles(flatfiles, DAY), "the-right-key", speed=0)
    with server as url, pytest.raises(AuthFailed) as refused:
        stream(session, [Feed(url, lambda: ["AM.SPY"])], "s3cr3t-wrong-key")
    assert server.auth_failures == 1 and server.connections == 1
    assert "s3cr3t-wrong-key" not in str(refused.value)
