"""The timing table at the end of `make test`: what each prerequisite, each lane and the slowest
tests took, in seconds, so that the next slowdown shows in every CI log.

    python -m tests.timings test-artifacts/lanes [--slowest 15]

It reads what `make test` leaves in that folder: timings.tsv (one "name<TAB>seconds" line per
prerequisite and lane, written by the Makefile) and each lane's JUnit report (*.xml), whose test
times include their fixtures' set-up and tear-down (an image build shows in the first test that
uses it).
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def steps(folder: Path) -> list[tuple[str, int]]:
    """The Makefile's rows, in the order they finished."""
    path = folder / "timings.tsv"
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        name, _, seconds = line.rpartition("\t")
        if name and seconds.isdigit():
            rows.append((name, int(seconds)))
    return rows


def tests(folder: Path) -> list[tuple[float, str, str]]:
    """(seconds, lane, test id) of every test in the lanes' JUnit reports."""
    found = []
    for report in sorted(folder.glob("*.xml")):
        for case in ET.parse(report).getroot().iter("testcase"):
            name = f"{case.get('classname', '').replace('.', '/')}.py::{case.get('name')}"
            found.append((float(case.get("time") or 0), report.stem, name))
    return found


def table(folder: Path, slowest: int) -> str:
    lines = ["", "== timing table (seconds, wall clock) ==", f"{'seconds':>8}  step"]
    lines += [f"{seconds:>8}  {name}" for name, seconds in steps(folder)]
    cases = tests(folder)
    if cases:
        lanes = sorted({lane for _, lane, _ in cases})
        counts = ", ".join(f"{lane} {sum(1 for _, own, _ in cases if own == lane)}" for lane in lanes)
        lines += ["", f"{len(cases)} tests ({counts}); the {min(slowest, len(cases))} slowest, fixtures included:"]
        lines += [
            f"{seconds:>8.1f}  [{lane}] {name}"
            for seconds, lane, name in sorted(cases, key=lambda c: (-c[0], c[1], c[2]))[:slowest]
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.timings", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="what `make test` wrote: test-artifacts/lanes")
    parser.add_argument("--slowest", type=int, default=15, help="how many of the slowest tests to list (15)")
    arguments = parser.parse_args(argv)
    print(table(arguments.folder, arguments.slowest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
