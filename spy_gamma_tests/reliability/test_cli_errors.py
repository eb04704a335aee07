"""The CLI's last line of defence: any failure becomes one readable line, exit 1, with credentials masked."""

from __future__ import annotations

import pytest

from spy_gamma import cli

PLANTED = "pk_PLANTED_cli_key_55aa"


def fail_with(message: str):
    def handler(args) -> int:
        raise RuntimeError(message)

    return handler


def test_a_failure_is_one_line_exit_1_with_the_environment_credentials_masked(monkeypatch, capsys):
    monkeypatch.setenv("POLYGON_API_KEY", PLANTED)
    monkeypatch.setenv("POLYGON_S3_SECRET_KEY", "s3-PLANTED/secret")
    long_path = "/data/" + "nested/" * 20 + "2025-09-17.csv.gz"
    monkeypatch.setattr(cli, "_query", fail_with(
        f"GET https://api.massive.com/v3/quotes?apiKey={PLANTED} for {long_path} with s3-PLANTED/secret [/x] [Errno 28]"))
    assert cli.main(["query", "select 1"]) == 1
    printed = capsys.readouterr().err
    assert PLANTED not in printed and "s3-PLANTED/secret" not in printed
    # Square brackets are text, not Rich markup (an unmatched "[/x]" used to crash the error handler itself),
    # and the path stays on one line however long.
    assert printed.strip() == (f"error: GET https://api.massive.com/v3/quotes?apiKey=*** for {long_path} "
                               "with *** [/x] [Errno 28]")


def test_interrupt_exits_130(monkeypatch, capsys):
    def interrupted(args) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_query", interrupted)
    assert cli.main(["query", "select 1"]) == 130
    assert "interrupted" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["run", "--source", "ftp"], ["nonsense"]])
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main(argv)
    assert raised.value.code == 2 and "usage: spy-gamma" in capsys.readouterr().err
