"""Misuse is reported at collection or start-up, names where it came from, and shows no traceback.

None of these runs reaches a Spark session, so they run in-process.
"""

from __future__ import annotations

import pytest

INI = """
[pytest]
dcs_sources =
    events = json:data/events
"""


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (
            '"events", fraction=[0.1]',
            "unknown argument fraction; the marker takes source, fractions, sample_key*",
        ),
        ('"events", fractions=[0, 0.5]', "*fraction 0 is outside (0, 1]*"),
        ('"events", fractions=[0.1, 2]', "*fraction 2 is outside (0, 1]*"),
        ('"events", fractions=[0.5, 0.1]', "*fractions must increase*0.1 comes after 0.5*"),
        (
            '"nope"',
            "*unknown source 'nope' (known: events); add a line 'nope = parquet:path/to/data'*",
        ),
        ('"events", "more"', "*takes one positional argument*"),
        ('"events", capture=-1', "*capture=-1 must be True, False or the most rows*"),
    ],
)
def test_marker_misuse_fails_collection_naming_test_and_fix(
    pytester: pytest.Pytester, marker: str, message: str
) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(
        test_bad=f"""
        import pytest

        @pytest.mark.scale({marker})
        def test_job(scaled):
            pass
        """
    )
    result = pytester.runpytest_inprocess()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        ["*ERROR collecting test_bad.py*", f"test_bad.py::test_job: @pytest.mark.scale: {message}"]
    )
    assert "Traceback" not in result.stdout.str()


@pytest.mark.parametrize(
    ("ini_line", "message"),
    [
        (
            "dcs_fractions = 0 2",
            "ERROR: Invalid dcs_fractions in tox.ini: fraction '0' is outside*",
        ),
        ("dcs_tiny_rows = many", "ERROR: Invalid dcs_tiny_rows in tox.ini: 'many' is not a whole*"),
        ("dcs_budget = -3", "ERROR: Invalid dcs_budget in tox.ini: '-3' must be greater than 0*"),
        (
            "dcs_spark_conf = spark.sql.shuffle.partitions",
            "ERROR: Invalid dcs_spark_conf in tox.ini: * is not 'key = value'*",
        ),
        (
            "dcs_sources = events = avro:data/x",
            "ERROR: Invalid dcs_sources: * has unknown format 'avro'; use one of parquet*",
        ),
        (
            "dcs_ship = helpers_gone",
            "ERROR: Invalid dcs_ship in tox.ini: 'helpers_gone': */helpers_gone does not exist."
            " Paths are relative to the rootdir *",
        ),
    ],
)
def test_bad_ini_values_name_their_origin(
    pytester: pytest.Pytester, ini_line: str, message: str
) -> None:
    pytester.makefile(".ini", tox=f"[pytest]\n{ini_line}\n")
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest_inprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_cli_override_is_named_as_such(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest_inprocess("-o", "dcs_fractions=0.5 0.1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: Invalid dcs_fractions from the command line (-o): *"])


def test_bad_max_rung(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest_inprocess("--dcs-max-rung=top")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: Invalid --dcs-max-rung: 'top' is not a rung: use local, distributed, or a*"]
    )


def test_marker_is_registered_with_usage(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_inprocess("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.scale(source=None, *, fractions=None, *"])


def test_scale_ids_without_running(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI + "dcs_fractions = 0.005 0.01 1\n")
    pytester.makepyfile(
        test_ids="""
        import pytest

        @pytest.mark.parametrize("day", ["mon"])
        @pytest.mark.scale("events")
        def test_job(scaled, day):
            pass
        """
    )
    result = pytester.runpytest_inprocess("--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [
            "test_ids.py::test_job[mon-local]",
            "test_ids.py::test_job[mon-distributed]",
            "test_ids.py::test_job[mon-0.5pct]",
            "test_ids.py::test_job[mon-1pct]",
            "test_ids.py::test_job[mon-100pct]",
        ]
    )


def test_rung_fixture_without_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_job(rung):
            pass
        """
    )
    result = pytester.runpytest_inprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*test_job uses the `rung` fixture but has no @pytest.mark.scale marker*"]
    )
    assert "Traceback" not in result.stdout.str()


@pytest.mark.parametrize("option", ["--dcs-report=blocker/ladder.json", "--dcs-plot=blocker/p.png"])
def test_an_output_under_a_file_fails_at_start_naming_the_option(
    pytester: pytest.Pytester, option: str
) -> None:
    pytester.makefile("", blocker="a file where the report's folder would be")
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest_inprocess(option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: Invalid {option}: */blocker is a file, so the folder */blocker cannot be*"]
    )
    result.stdout.no_fnmatch_line("*test_nothing*")


def test_a_report_path_that_is_a_folder_fails_at_start(pytester: pytest.Pytester) -> None:
    pytester.mkdir("reports")
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest_inprocess("--dcs-report=reports")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: Invalid --dcs-report=reports: */reports is a folder*"])


def test_a_missing_report_folder_is_created(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest_inprocess("--dcs-report=out/ci/ladder.json")
    assert result.ret == pytest.ExitCode.OK
    assert (pytester.path / "out" / "ci" / "ladder.json").is_file()
