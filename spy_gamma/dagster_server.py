"""A real Dagster webserver + daemon (``dagster dev``) on 127.0.0.1, and backfills launched through its GraphQL API."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
FINISHED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}

LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on PartitionSetNotFoundError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on InvalidOutputError { invalidOutputName }
    ... on UnauthorizedError { message }
  }
}"""

STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      status
      numPartitions
      assetBackfillData { assetBackfillStatuses { __typename
        ... on AssetPartitionsStatusCounts { assetKey { path } numPartitionsTargeted numPartitionsInProgress
                                             numPartitionsMaterialized numPartitionsFailed } } }
    }
    ... on PythonError { message }
  }
}"""


class DagsterError(RuntimeError):
    """The Dagster server did not start, or refused or failed a request."""


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DagsterServer:
    """``dagster dev`` (webserver and daemon) for this repository, bound to 127.0.0.1, as a context manager."""

    def __init__(self, dagster_home: Path, port: int | None = None, env: dict[str, str] | None = None,
                 log_path: Path | None = None):
        self.home, self.port = Path(dagster_home).resolve(), port or free_port()
        self.env = {**os.environ, **(env or {}), "DAGSTER_HOME": str(self.home)}
        self.log_path = log_path or self.home / "dagster_dev.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> DagsterServer:
        self.home.mkdir(parents=True, exist_ok=True)
        if not (self.home / "dagster.yaml").exists():
            shutil.copyfile(REPO_ROOT / "dagster.yaml", self.home / "dagster.yaml")
        dagster = Path(sys.executable).with_name("dagster")
        command = [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(self.port), "-w", str(REPO_ROOT / "workspace.yaml")]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(command, cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True, preexec_fn=_die_with_parent)
        self._wait_until_up(timeout_s=180)
        return self

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)

    def _wait_until_up(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DagsterError(f"dagster dev exited with {self.process.returncode}; see {self.log_path}")
            try:
                if requests.get(f"{self.url}/server_info", timeout=2).ok and self._code_location_loaded():
                    return
            except requests.RequestException:
                pass
            time.sleep(1.0)
        raise DagsterError(f"dagster dev not ready on {self.url} after {timeout_s:.0f} s; see {self.log_path}")

    def _code_location_loaded(self) -> bool:
        data = graphql(self.url, "{ workspaceOrError { ... on Workspace { locationEntries { name "
                                 "locationOrLoadError { __typename } } } } }")
        entries = data["workspaceOrError"].get("locationEntries", [])
        return bool(entries) and all(e["locationOrLoadError"]["__typename"] == "RepositoryLocation" for e in entries)


def _die_with_parent() -> None:
    """In the child before exec: Linux sends it SIGTERM when the process that started it dies, even by SIGKILL,
    so a killed ``spy-gamma backfill`` never leaves a ``dagster dev`` behind (prctl PR_SET_PDEATHSIG)."""
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def graphql(url: str, query: str, variables: dict | None = None, timeout_s: float = 60) -> dict:
    """POST a GraphQL query to the webserver; errors raise with the server's message."""
    response = requests.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=timeout_s)
    response.raise_for_status()
    body = response.json()
    if body.get("errors"):
        raise DagsterError("; ".join(e.get("message", str(e)) for e in body["errors"]))
    return body["data"]


def launch_backfill(url: str, ranges: dict[str, tuple[str, str]], title: str = "spy-gamma backfill",
                    tags: dict[str, str] | None = None) -> str:
    """Launch one asset backfill: each asset key over its own (first, last) partition range; the backfill id."""
    params = {"partitionsByAssets": [{"assetKey": {"path": [key]}, "partitions": {"range": {"start": first,
                                                                                          "end": last}}}
                                     for key, (first, last) in ranges.items()],
              "fromFailure": False, "title": title,
              "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]}
    result = graphql(url, LAUNCH, {"params": params})["launchPartitionBackfill"]
    if result["__typename"] != "LaunchBackfillSuccess":
        raise DagsterError(f"backfill refused: {result}")
    return result["backfillId"]


def backfill_status(url: str, backfill_id: str) -> dict:
    """``status`` and per-asset partition counts of a backfill."""
    result = graphql(url, STATUS, {"id": backfill_id})["partitionBackfillOrError"]
    if result["__typename"] != "PartitionBackfill":
        raise DagsterError(f"backfill {backfill_id}: {result}")
    return result


def wait_for_backfill(url: str, backfill_id: str, timeout_s: float = 3600,
                      progress: Callable[[int, int], None] | None = None) -> dict:
    """Poll until the backfill finishes; ``progress(done, total)`` counts materialized + failed asset partitions."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = backfill_status(url, backfill_id)
        counts = [c for c in (status["assetBackfillData"] or {}).get("assetBackfillStatuses", [])
                  if c["__typename"] == "AssetPartitionsStatusCounts"]
        if progress and counts:
            progress(sum(c["numPartitionsMaterialized"] + c["numPartitionsFailed"] for c in counts),
                     sum(c["numPartitionsTargeted"] for c in counts))
        if status["status"] in FINISHED:
            return status
        time.sleep(2.0)
    raise DagsterError(f"backfill {backfill_id} still running after {timeout_s:.0f} s")
