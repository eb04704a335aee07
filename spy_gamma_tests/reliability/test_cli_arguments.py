"""Arguments are validated before any work starts: exit 2, the usage line, and the offending flag named.

These run ``spy_gamma.cli.main`` in this process (validation happens before anything is imported or written);
that nothing was created in the data dir or the output folder shows no work started.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from spy_gamma import cli

GOOD = {"--date": ["2025-09-19"], "--expiry": ["2025-09-22", "2025-09-24"]}


def run_args(tmp_path: Path, **changed: list[str]) -> list[str]:
    """``run`` arguments, the good analysis with some flags replaced (``date=[...]``, ``expiry=[...]``)."""
    flags = GOOD | {f"--{name}": values for name, values in changed.items()}
    return ["--data-dir", str(tmp_path / "data"), "run", "--source", "local", "--flatfiles", str(tmp_path / "ff"),
            *(part for flag, values in flags.items() for part in (flag, *values))]


def refused(argv: list[str], monkeypatch, capsys) -> str:
    """Exit code 2 and the usage line; the message argparse printed."""
    monkeypatch.setenv("SPY_GAMMA_DATA_DIR", "unused")  # main() sets it: restored after the test
    with pytest.raises(SystemExit) as raised:
        cli.main(argv)
    err = capsys.readouterr().err
    assert raised.value.code == 2 and err.startswith("usage: spy-gamma"), err
    return err


@pytest.mark.parametrize(("changed", "flag", "problem"), [
    ({"date": ["notadate"]}, "--date", "'notadate' is not a date written YYYY-MM-DD"),
    ({"date": ["2025-W38-5"]}, "--date", "'2025-W38-5' is not a date written YYYY-MM-DD"),  # ISO week date
    ({"date": ["20250919"]}, "--date", "'20250919' is not a date written YYYY-MM-DD"),  # fromisoformat takes it
    ({"date": ["2025-02-30"]}, "--date", "'2025-02-30' is not a calendar date"),
    ({"date": ["1850-01-02"]}, "--date", "1850-01-02"),  # before exchange-calendars' range: a clear message
    ({"expiry": ["tomorrow"]}, "--expiry", "'tomorrow' is not a date written YYYY-MM-DD"),
    ({"expiry": ["2025-09-18"]}, "--expiry", "2025-09-18 is on or before the as-of close 2025-09-19"),
    ({"expiry": ["2025-09-19"]}, "--expiry", "2025-09-19 is on or before the as-of close 2025-09-19"),
    ({"expiry": ["2025-09-20"]}, "--expiry", "2025-09-20 is not an NYSE session"),  # a Saturday
    ({"expiry": ["2025-11-27"]}, "--expiry", "2025-11-27 is not an NYSE session"),  # Thanksgiving
    ({"expiry": ["2025-09-22", "2025-09-22"]}, "--expiry", "2025-09-22 is given twice"),
], ids=["not a date", "ISO week date", "basic format", "no such day", "before the calendar", "tomorrow",
        "before the date", "on the as-of close", "weekend", "holiday", "duplicated"])
def test_a_bad_date_or_expiry_exits_2_naming_the_flag_before_any_work(changed, flag, problem, tmp_path,
                                                                     monkeypatch, capsys):
    err = refused(run_args(tmp_path, **changed) + ["--output", str(tmp_path / "out")], monkeypatch, capsys)
    assert f"argument {flag}: " in err and problem in err, err
    assert not (tmp_path / "data").exists() and not (tmp_path / "out").exists()


def test_a_weekend_date_is_accepted_as_of_the_fridays_close(tmp_path, monkeypatch):
    """The analysis date may be a weekend: 2025-09-20 is as of Friday 09-19, so Monday's expiry is valid."""
    class Parser:
        def error(self, message: str) -> None:
            raise AssertionError(message)

    monkeypatch.setattr(cli, "guard_output", lambda output, parser: None)
    args = cli._parser().parse_args(run_args(tmp_path, date=["2025-09-20"]))
    args.parser = Parser()
    assert cli.validated_run(args) == (cli.iso_date("2025-09-19"), [cli.iso_date(e) for e in GOOD["--expiry"]])


@pytest.mark.parametrize("where", ["root", "home", "a foreign folder", "a file"])
def test_an_output_that_is_not_ours_is_refused_before_any_work(where, tmp_path, monkeypatch, capsys):
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"\xff\xd8")
    output = {"root": Path("/"), "home": Path.home(), "a foreign folder": foreign,
              "a file": foreign / "holiday.jpg"}[where]
    before = sorted(output.iterdir()) if output.is_dir() else output.read_bytes()
    err = refused(run_args(tmp_path) + ["--output", str(output)], monkeypatch, capsys)
    assert "argument --output: " in err and str(output.resolve()) in err, err
    assert (sorted(output.iterdir()) if output.is_dir() else output.read_bytes()) == before
    assert not (tmp_path / "data").exists()


def test_an_empty_folder_or_an_earlier_output_is_accepted_and_marked(tmp_path):
    class Parser:
        def error(self, message: str) -> None:
            raise AssertionError(message)

    empty, earlier = tmp_path / "empty", tmp_path / "earlier"
    empty.mkdir()
    earlier.mkdir()
    (earlier / cli.OUTPUT_MARKER).touch()
    (earlier / "dashboard.html").write_text("<html>")
    for folder in (empty, earlier, tmp_path / "new" / "nested"):
        cli.guard_output(folder, Parser())
        assert (folder / cli.OUTPUT_MARKER).is_file()


def test_the_demo_is_the_embedded_market_even_with_polygon_credentials_set(monkeypatch, capsys):
    monkeypatch.setenv("POLYGON_S3_ACCESS_KEY", "planted-access")
    monkeypatch.setenv("POLYGON_S3_SECRET_KEY", "planted-secret")
    args = cli._parser().parse_args(["demo"])
    assert (args.source, args.flatfiles) == ("simulated", None)
    assert cli._parser().parse_args(["run"]).source is None  # run: the environment decides (s3 with credentials)
    refused(["demo", "--source", "s3"], monkeypatch, capsys)


@pytest.mark.parametrize("argv", [["run", "--source", "ftp"], ["nonsense"], ["run", "--date"]])
def test_unknown_commands_and_choices_exit_2(argv, monkeypatch, capsys):
    refused(argv, monkeypatch, capsys)
