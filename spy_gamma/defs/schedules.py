"""Before the open: materialize the latest published session once its flat files exist."""

import datetime as dt

import dagster as dg

from spy_gamma.defs.jobs import daily_job
from spy_gamma.defs.partitions import SETTINGS, latest_published_day, trading_days
from spy_gamma.defs.resources import FlatFilesResource


@dg.schedule(job=daily_job, cron_schedule=SETTINGS.schedule_cron, execution_timezone="America/New_York",
             default_status=dg.DefaultScheduleStatus.STOPPED)
def morning_daily(context: dg.ScheduleEvaluationContext, flatfiles: FlatFilesResource):
    """The partition key of the latest published session; a skip with the reason when its files are not there."""
    today = context.scheduled_execution_time.date() if context.scheduled_execution_time else dt.date.today()
    day = latest_published_day(today)
    key = day.isoformat()
    if not trading_days.has_partition_key(key):
        return dg.SkipReason(f"{key} is outside the partitions ({trading_days.get_first_partition_key()} .. "
                             f"{trading_days.get_last_partition_key()})")
    source = flatfiles.open()
    if not source.available("trades", day):
        return dg.SkipReason(f"{source.location('trades', day)} is not published yet")
    return dg.RunRequest(run_key=f"daily-{key}", partition_key=key, tags={"spy_gamma/trigger": "morning_daily"})
