"""The schedule and the sensor follow the calendar and the files: the right partition key, or a reason to skip."""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg

from spy_gamma.defs.resources import FlatFilesResource, LakeResource
from spy_gamma.defs.schedules import morning_daily
from spy_gamma.defs.sensors import new_flat_files
from spy_gamma.sources.flatfiles import flatfile_key

NEW_YORK = ZoneInfo("America/New_York")


def publish(root, day: dt.date) -> None:
    path = root / flatfile_key("trades", day)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


def local_files(root) -> FlatFilesResource:
    return FlatFilesResource(source="local", root=str(root))


def tick(root, when: dt.datetime):
    context = dg.build_schedule_context(scheduled_execution_time=when, resources={"flatfiles": local_files(root)})
    return morning_daily(context)


def test_a_monday_morning_tick_asks_for_fridays_session_once_its_files_exist(tmp_path):
    publish(tmp_path, dt.date(2025, 10, 3))
    request = tick(tmp_path, dt.datetime(2025, 10, 6, 6, 30, tzinfo=NEW_YORK))
    assert isinstance(request, dg.RunRequest) and request.partition_key == "2025-10-03"


def test_an_unpublished_session_is_skipped_with_the_reason(tmp_path):
    skipped = tick(tmp_path, dt.datetime(2025, 10, 7, 6, 30, tzinfo=NEW_YORK))  # 10-06's files are not there
    assert isinstance(skipped, dg.SkipReason) and "2025-10-06" in skipped.skip_message
    assert "not published" in skipped.skip_message


def test_the_day_after_a_holiday_asks_for_the_session_before_it(tmp_path):
    publish(tmp_path, dt.date(2025, 8, 29))  # Labor Day 2025-09-01: Tuesday's tick wants Friday 08-29...
    request = tick(tmp_path, dt.datetime(2025, 9, 2, 6, 30, tzinfo=NEW_YORK))
    # ...which lies before the partitions (they start where the embedded market starts, 2025-09-02)
    assert isinstance(request, dg.SkipReason) and "outside the partitions" in request.skip_message


def test_the_sensor_picks_up_a_session_copied_into_the_flat_file_root(tmp_path):
    root, data = tmp_path / "files", tmp_path / "data"
    resources = {"flatfiles": local_files(root), "lake": LakeResource(data_dir=str(data))}
    first = new_flat_files(dg.build_sensor_context(resources=resources))
    assert first.run_requests == [] and "every published session" in first.skip_reason.skip_message
    publish(root, dt.date(2025, 9, 17))
    second = new_flat_files(dg.build_sensor_context(resources=resources))
    assert [r.partition_key for r in second.run_requests] == ["2025-09-17"]
