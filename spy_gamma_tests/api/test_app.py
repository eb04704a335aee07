"""Every endpoint of the read-only API, against the batch run's lake (read back independently from its Parquet
files) and a replayed live session; bad dates, expiries and groups get a 4xx that says what exists."""

import datetime as dt
import io
import shutil

import polars as pl
import pytest
from fastapi.testclient import TestClient

from spy_gamma.api.app import create_app
from spy_gamma.lake import Lake
from spy_gamma.live.morning import target_expiries
from spy_gamma.live.run import replay_session
from spy_gamma.live.session import LiveSettings

AS_OF = dt.date(2025, 10, 3)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(pipeline_run, tmp_path_factory):
    """A copy of the batch run's lake with one replayed live session of 2025-10-03, and a client over it."""
    data = tmp_path_factory.mktemp("api")
    shutil.copytree(pipeline_run["data"] / "lake", data / "lake")
    shutil.copy(pipeline_run["data"] / "spy_gamma.duckdb", data / "spy_gamma.duckdb")
    lake = Lake(data)
    replay_session(lake, pipeline_run["data"] / "flatfiles" / "simulated", AS_OF, target_expiries(lake, AS_OF),
                   speed=0, settings=LiveSettings(step_ns=1800 * 10 ** 9), hindsight=True)
    return TestClient(create_app(data)), lake


def parquet(lake: Lake, table: str, key: dt.date = AS_OF) -> pl.DataFrame:
    return pl.read_parquet(lake.path(table, key))


def test_levels_as_json_and_csv(served):
    client, lake = served
    expected = parquet(lake, "gamma_levels").row(0, named=True)
    body = client.get("/api/levels", params={"as_of": "2025-10-03"}).json()
    assert len(body) == 1 and body[0]["total_gex"] == pytest.approx(expected["total_gex"])
    assert client.get("/api/levels").json() == body  # the latest as-of by default
    csv = client.get("/api/levels", params={"format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert pl.read_csv(io.StringIO(csv.text))["gamma_flip"][0] == pytest.approx(expected["gamma_flip"])


def test_bad_as_of_dates_get_4xx_naming_what_exists(served):
    client, _ = served
    assert client.get("/api/levels", params={"as_of": "2025-13-01"}).status_code == 422
    assert client.get("/api/levels", params={"as_of": "yesterday"}).status_code == 422
    missing = client.get("/api/levels", params={"as_of": "2025-10-02"})
    assert missing.status_code == 404 and "2025-10-03" in missing.json()["detail"]
    assert client.get("/api/levels", params={"format": "xml"}).status_code == 422


def test_levels_history_and_its_range(served):
    client, lake = served
    rows = client.get("/api/levels_history", params={"start": "2025-10-01", "end": "2025-10-05"}).json()
    assert [r["as_of"] for r in rows] == ["2025-10-03"]
    assert rows[0]["regime"] == parquet(lake, "levels_history")["regime"][0]
    assert client.get("/api/levels_history", params={"start": "2025-10-04"}).json() == []
    backwards = client.get("/api/levels_history", params={"start": "2025-10-05", "end": "2025-10-01"})
    assert backwards.status_code == 400 and "after" in backwards.json()["detail"]


def test_positions_by_expiry_and_a_bad_expiry(served):
    client, lake = served
    expected = parquet(lake, "dealer_positions").filter(pl.col("expiry") == dt.date(2025, 10, 6))
    rows = client.get("/api/positions", params={"expiry": "2025-10-06"}).json()
    assert len(rows) == expected.height and {r["expiry"] for r in rows} == {"2025-10-06"}
    assert sum(r["dealer_position"] for r in rows) == pytest.approx(expected["dealer_position"].sum())
    csv = pl.read_csv(io.StringIO(client.get("/api/positions", params={"expiry": "2025-10-06", "format": "csv"}).text))
    assert csv.height == expected.height  # the nested block flows become text, "[a, b]", in CSV
    blocks = expected.filter(pl.col("block_flows").list.len() > 0).row(0, named=True)
    text = csv.filter(pl.col("ticker") == blocks["ticker"])["block_flows"][0]
    assert [float(v) for v in text.strip("[]").split(", ")] == pytest.approx(blocks["block_flows"])
    bad = client.get("/api/positions", params={"expiry": "2025-10-07"})
    assert bad.status_code == 404 and "2025-10-06" in bad.json()["detail"]
    assert client.get("/api/positions", params={"expiry": "10/06/2025"}).status_code == 422


def test_exposures_by_strike_and_gamma_profile(served):
    client, lake = served
    csv = client.get("/api/exposures_by_strike", params={"as_of": "2025-10-03", "format": "csv"}).text
    frame = pl.read_csv(io.StringIO(csv))
    assert {"expiry", "strike", "call_gex", "put_gex", "net_gex"} <= set(frame.columns)
    assert frame["net_gex"].sum() == pytest.approx(parquet(lake, "exposures_by_strike")["net_gex"].sum())
    profile = client.get("/api/gamma_profile").json()
    assert len(profile) == parquet(lake, "gamma_profile").height
    assert client.get("/api/exposures_by_strike", params={"expiry": "2031-01-17"}).status_code == 404


def test_intraday_flow_groups_and_live_tables(served):
    client, lake = served
    flow = client.get("/api/intraday_flow", params={"date": "2025-10-03", "group": "all"}).json()
    expected = parquet(lake, "live_flow").filter(pl.col("group") == "all")
    assert len(flow) == expected.height and flow[-1]["cum_dealer_delta_usd"] == pytest.approx(
        expected["cum_dealer_delta_usd"][-1])
    bad = client.get("/api/intraday_flow", params={"group": "everything"})
    assert bad.status_code == 404 and "calls" in bad.json()["detail"]
    assert client.get("/api/intraday_flow", params={"date": "2025-10-02"}).status_code == 404
    levels = client.get("/api/live/levels").json()
    assert len(levels) == parquet(lake, "live_levels").height and levels[-1]["time_et"] == "16:00:00"
    assert client.get("/api/live/alerts", params={"format": "csv"}).status_code == 200
    latest = client.get("/api/live/latest").json()
    assert latest["date"] == "2025-10-03" and latest["latest"]["step_end_ns"] == levels[-1]["step_end_ns"]
    assert latest["profile"] and latest["flow"]


def test_live_page_docs_and_nothing_writable(served):
    client, _ = served
    page = client.get("/live")
    assert page.status_code == 200 and "/static/plotly.min.js" in page.text and 'id="updated"' in page.text
    script = client.get("/static/plotly.min.js")
    assert script.status_code == 200 and "plotly" in script.text[:2000].lower()
    assert client.get("/docs").status_code == 200
    operations = {method for path in client.get("/openapi.json").json()["paths"].values() for method in path}
    assert operations == {"get"}
    assert client.post("/api/levels").status_code == 405
    assert client.delete("/api/positions").status_code == 405
