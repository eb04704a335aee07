"""Memory is bounded by the kept rows and the piece size, not by the file: small gzip bombs (64 MiB inflated) read
in a fresh process with 2 MiB pieces, whose peak RSS (``resource``) may grow by at most RSS_BOUND_MB over a warm-up
read, and whose error is short. (With the default 8 MiB pieces the same reads grow by ~24 MB for the bombs and
~75-90 MB for 64 MiB of other roots' rows: a constant ~10 pieces, whatever the file's size.)"""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from spy_gamma_tests.sources.test_readers import TRADES_HEADER

INFLATED_MB = 64  # a reader holding the inflated file grows by more than this (the readers before: 160-790 MB)
PIECE_MB = 2
# Measured 23-27 MB with 2 MiB pieces (~10 pieces: two in flight, their checks' masks, one piece's lines or parse,
# allocator slack); a reader holding the inflated text alone grows by 64 MB, so three quarters of it separates them.
RSS_BOUND_MB = INFLATED_MB * 3 // 4
REPO = Path(__file__).resolve().parents[2]
OTHER_ROOT = b"O:QQQ251010C00600000,209,0,312,5.00,1759498200000000000,1\n"

CHILD = """
import json, resource, sys
from pathlib import Path
from spy_gamma.sources import readers
from spy_gamma.sources.errors import DataError
from spy_gamma.sources.spy_lines import read_spy_trades

readers.PIECE_BYTES = int(sys.argv[4]) * 1024 * 1024
reader = {"strict": readers.read_trades, "fast": read_spy_trades}[sys.argv[1]]
reader(Path(sys.argv[3]))  # warm-up: thread pools, allocator arenas, lazily imported code
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    read = reader(Path(sys.argv[2]))
    outcome = {"kept": read.kept, "rows_in_file": read.rows_in_file}
except DataError as error:
    outcome = {"error": str(error), "line": error.line}
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({**outcome, "grew_mb": grown / 1024}))
"""


def gzip_stream(path: Path, head: bytes, filler: bytes) -> Path:
    """``head`` then ``filler`` repeated to INFLATED_MB, compressed a chunk at a time (the test never holds it)."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    chunk = filler * (1024 * 1024 // len(filler))
    with path.open("wb") as sink:
        sink.write(packer.compress(head))
        for _ in range(INFLATED_MB):
            sink.write(packer.compress(chunk))
        sink.write(packer.flush())
    return path


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bombs")
    header = TRADES_HEADER.encode() + b"\n"
    warm_up = folder / "warm.csv.gz"
    warm_up.write_bytes(zlib.compress(header + b"O:SPY251010C00670000,209,0,312,2.5,1759498200000000000,1\n",
                                      wbits=31))
    return {"warm_up": warm_up,
            "zeros_without_newline": gzip_stream(folder / "zeros.csv.gz", header, b"0"),
            "nul_bytes": gzip_stream(folder / "nul.csv.gz", header, b"\0"),
            "other_roots_only": gzip_stream(folder / "qqq.csv.gz", header, OTHER_ROOT)}


def read_in_child(reader: str, path: Path, warm_up: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, reader, str(path), str(warm_up), str(PIECE_MB)],
                          cwd=REPO, capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("reader", ["strict", "fast"])
@pytest.mark.parametrize(("bomb", "expected"), [
    ("zeros_without_newline", {"line": 2, "error": "line longer than 4096 bytes"}),
    ("nul_bytes", {"line": 2, "error": "NUL byte"}),
    ("other_roots_only", {"kept": 0, "rows_in_file": INFLATED_MB * (1024 * 1024 // len(OTHER_ROOT))}),
])
def test_a_bomb_is_read_in_bounded_memory(bombs, reader, bomb, expected):
    result = read_in_child(reader, bombs[bomb], bombs["warm_up"])
    assert result["grew_mb"] < RSS_BOUND_MB, result
    if "error" in expected:
        assert expected["error"] in result["error"] and result["line"] == expected["line"]
        assert len(result["error"]) < 600  # the hostile file once produced a 209-million-character message
    else:
        assert {name: result[name] for name in expected} == expected
