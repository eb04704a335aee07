"""Before the open: materialize the latest published trading day, then the window analytics."""


import datetime as dt
import os

import dagster as dg

from spy_gamma.defs.jobs import daily_job, window_job
from spy_gamma.defs.partitions import latest_published_day

MORNING_CRON = os.environ.get("SPY_GAMMA_SCHEDULE_CRON", "30 6 * * 1-5")  # 06:30 ET, flat files land overnight


@dg.schedule(job=daily_job, cron_schedule=MORNING_CRON, execution_timezone="America/New_York",
             default_status=dg.DefaultScheduleStatus.STOPPED)
def morning_daily(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """The previous session's partition, once its flat files are published."""
    today = context.scheduled_execution_time.date() if context.scheduled_execution_time else dt.date.today()
    day = latest_published_day(today).isoformat()
    return dg.RunRequest(run_key=f"daily-{day}", partition_key=day)


@dg.schedule(job=window_job, cron_schedule=os.environ.get("SPY_GAMMA_WINDOW_CRON", "15 7 * * 1-5"),
             execution_timezone="America/New_York", default_status=dg.DefaultScheduleStatus.STOPPED)
def morning_window(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Positions, exposures and the dashboard after the daily partition has landed."""
    return dg.RunRequest(run_key=f"window-{context.scheduled_execution_time:%Y-%m-%d}")
