"""Print the packages of requirements.lock that the named ones bring: themselves, and every
package that only they required, one name per line.

The torch-less image installs the lock as the other image does (pins and hashes checked), then
uninstalls these. pip-compile's "# via" notes say who required each package: a package goes
when every package that required it goes; one asked for by requirements.txt itself stays.

    python3 torch_stack.py requirements.lock torch sentence-transformers ...
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


def brought_by(lock: str, names: list[str]) -> list[str]:
    _, found = entries(lock.splitlines(keepends=True))
    left_out = {normalise(name) for name in names}
    unknown = left_out - {name for name, _, _ in found}
    if unknown:
        raise SystemExit(f"not in the lock: {', '.join(sorted(unknown))}")
    while True:
        orphans = {name for name, _, via in found if name not in left_out and via and via <= left_out}
        if not orphans:
            break
        left_out |= orphans
    return sorted(left_out)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    with open(sys.argv[1]) as handle:
        print("\n".join(brought_by(handle.read(), sys.argv[2:])))
