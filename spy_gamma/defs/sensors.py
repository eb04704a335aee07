"""Poll the configured source for new day files and request only the partitions not yet materialized."""


import datetime as dt

import dagster as dg

from spy_gamma.defs.jobs import daily_job
from spy_gamma.defs.partitions import latest_published_day
from spy_gamma.defs.resources import AnalysisConfig, FlatFilesResource, LakeResource

LOOKBACK_DAYS = 10


@dg.sensor(job=daily_job, minimum_interval_seconds=900, default_status=dg.DefaultSensorStatus.STOPPED)
def new_flat_files(context: dg.SensorEvaluationContext, config: AnalysisConfig, flatfiles: FlatFilesResource,
                   lake: LakeResource) -> dg.SensorResult:
    """A run per trading day of the window whose trades file exists but whose trades are not in the lake."""
    source, store = flatfiles.open(), lake.lake
    latest = min(latest_published_day(dt.date.today()), config.as_of)
    days = [d for d in config.window if d <= latest][-LOOKBACK_DAYS:]
    missing = [d for d in days if not store.exists("classified_trades", d) and source.available("trades", d)]
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"files-{d}", partition_key=d.isoformat())
                                         for d in missing],
                           skip_reason=None if missing else "every published day is materialized")
