"""The Kubernetes and Celery deployment configs in deploy/ validate against Dagster's own schemas (not deployed)."""

from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config
from dagster._core.system_config.objects import ResolvedRunConfig

from spy_gamma.definitions import defs
from spy_gamma.defs.jobs import daily_job

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
ENV = {"DAGSTER_PG_HOST": "postgres", "DAGSTER_PG_USERNAME": "dagster", "DAGSTER_PG_PASSWORD": "x",
       "SPY_GAMMA_LOG_BUCKET": "logs", "SPY_GAMMA_CELERY_BROKER": "pyamqp://guest@rabbitmq//",
       "SPY_GAMMA_CELERY_BACKEND": "rpc://"}


@pytest.fixture(autouse=True)
def deploy_env(monkeypatch):
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)


def test_k8s_instance_config_validates_and_its_launcher_config_too():
    from dagster_k8s import K8sRunLauncher

    config, _ = dagster_instance_config(str(DEPLOY), "dagster.yaml")
    launcher = config["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    result = process_config(K8sRunLauncher.config_type(), launcher["config"])
    assert result.success, result.errors
    assert "SPY_GAMMA_SOURCE=s3" in result.value["env_vars"]


@pytest.mark.parametrize(("executor", "run_config_file"), [("k8s", "run_config.yaml"), ("celery", "celery_run_config.yaml")])
def test_run_config_validates_for_the_daily_job(executor, run_config_file):
    if executor == "k8s":
        from dagster_k8s import k8s_job_executor as executor_def
    else:
        from dagster_celery import celery_executor as executor_def
    job = dg.define_asset_job("daily_on_cluster", selection=daily_job.selection, executor_def=executor_def)
    job_def = dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def("daily_on_cluster")
    run_config = yaml.safe_load((DEPLOY / run_config_file).read_text())
    resolved = ResolvedRunConfig.build(job_def, run_config)   # raises DagsterInvalidConfigError on a bad key
    assert set(run_config["execution"]["config"]) <= set(resolved.execution.execution_engine_config)
