"""The timing table at the end of `make test` (tests/timings.py), read from what the Makefile and
the lanes' JUnit reports leave in test-artifacts/lanes."""

from __future__ import annotations

from tests import timings

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="3">
<testcase classname="tests.test_image" name="test_build" time="312.5"/>
<testcase classname="tests.test_api" name="test_search[embedded]" time="0.4"/>
<testcase classname="tests.test_release_rehearsal" name="test_first_release" time="201.0"/>
</testsuite></testsuites>
"""


def test_the_table_lists_each_step_and_the_slowest_tests_first(tmp_path):
    (tmp_path / "timings.tsv").write_text("venv\t4\nmodels\t2\nDebian packages\t31\nlint\t3\nrunbook lane\t900\n")
    (tmp_path / "runbook.xml").write_text(JUNIT)
    (tmp_path / "other.xml").write_text(JUNIT.replace("test_image", "test_other"))
    table = timings.table(tmp_path, slowest=2)
    assert [line.split(maxsplit=1) for line in table.splitlines()[3:8]] == [
        ["4", "venv"],
        ["2", "models"],
        ["31", "Debian packages"],
        ["3", "lint"],
        ["900", "runbook lane"],
    ]
    assert "6 tests (other 3, runbook 3); the 2 slowest, fixtures included:" in table
    slowest = table.splitlines()[-2:]
    assert slowest[0].split() == ["312.5", "[other]", "tests/test_other.py::test_build"]
    assert slowest[1].split() == ["312.5", "[runbook]", "tests/test_image.py::test_build"]


def test_a_run_cut_short_still_gets_a_table(tmp_path):
    """A lane killed before its JUnit report: the steps that finished are still shown."""
    (tmp_path / "timings.tsv").write_text("venv\t250\n")
    assert timings.table(tmp_path, slowest=15).splitlines()[-1].split() == ["250", "venv"]
