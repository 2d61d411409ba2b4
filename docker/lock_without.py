"""Print requirements.lock without the named packages and what only they required.

The torch-less image installs this, hashes and all (pip --require-hashes --no-deps), so that it
keeps the lock's pins instead of resolving requirements.txt again. pip-compile's "# via" notes
say who required each package: a package is left out when every package that required it is.

    python3 lock_without.py requirements.lock torch sentence-transformers ... > exported.lock
"""

from __future__ import annotations

import re
import sys

REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==")
DIRECT = "-r "  # "# via -r requirements.txt": asked for by name, kept unless named here


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def entries(lines: list[str]) -> tuple[list[str], list[tuple[str, list[str], set[str]]]]:
    """The header's lines, and (name, lines, required by) for each pinned package."""
    header: list[str] = []
    found: list[tuple[str, list[str], set[str]]] = []
    for line in lines:
        match = REQUIREMENT.match(line)
        if match:
            found.append((normalise(match.group(1)), [line], set()))
        elif not found:
            header.append(line)
        else:
            found[-1][1].append(line)
            note = line.strip().removeprefix("#").strip().removeprefix("via").strip()
            if line.lstrip().startswith("#") and note:
                found[-1][2].add(note if note.startswith(DIRECT) else normalise(note))
    return header, found


def without(lock: str, names: list[str]) -> str:
    header, found = entries(lock.splitlines(keepends=True))
    left_out = {normalise(name) for name in names}
    unknown = left_out - {name for name, _, _ in found}
    if unknown:
        raise SystemExit(f"not in the lock: {', '.join(sorted(unknown))}")
    while True:
        orphans = {name for name, _, via in found if name not in left_out and via and via <= left_out}
        if not orphans:
            break
        left_out |= orphans
    kept = [line for name, lines, _ in found if name not in left_out for line in lines]
    return "".join(header + kept)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    with open(sys.argv[1]) as handle:
        sys.stdout.write(without(handle.read(), sys.argv[2:]))
