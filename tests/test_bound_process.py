"""roles/rehearsal_process/files/bound-process.sh: the rehearsal's background processes live
exactly as long as the ansible-playbook run that started them, and a run that follows another
at once gets processes of its own (the case that made a release find moto gone mid-start)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.slow

SCRIPT = ROOT / "roles" / "rehearsal_process" / "files" / "bound-process.sh"
# The supervised command: it writes its pid, then lives until it is stopped.
COMMAND = ["bash", "-c", 'echo $$ >> "$0"; exec sleep 600']


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


def wait_for(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.fixture
def bound(tmp_path):
    started = tmp_path / "started"
    started.touch()
    pidfile, log = tmp_path / "process.pid", tmp_path / "process.log"

    def run(action: str, owner: int | None = None) -> subprocess.CompletedProcess:
        arguments = [str(SCRIPT), action, str(pidfile)]
        if action == "start":
            arguments += [str(owner), str(log), *COMMAND, str(started)]
        return subprocess.run(arguments, capture_output=True, text=True, timeout=60)

    def commands() -> list[int]:
        return [int(line) for line in started.read_text().split()]

    yield run, commands
    run("stop")


@pytest.fixture
def owner():
    """Makes processes that stand for ansible-playbook runs."""
    made = []

    def make() -> subprocess.Popen:
        made.append(subprocess.Popen(["sleep", "600"]))
        return made[-1]

    yield make
    for process in made:
        process.kill()
        process.wait()


def test_start_is_idempotent_within_a_run_and_stop_stops(bound, owner):
    run, commands = bound
    playbook = owner()
    assert run("start", playbook.pid).stdout.startswith("started")
    wait_for(lambda: len(commands()) == 1)
    assert run("start", playbook.pid).stdout.startswith("already running")
    assert run("stop").stdout.strip() == "stopped"
    assert not alive(commands()[0])
    assert run("stop").stdout.strip() == "not running"


def test_the_process_ends_with_the_run_that_started_it(bound, owner):
    run, commands = bound
    playbook = owner()
    run("start", playbook.pid)
    wait_for(lambda: len(commands()) == 1)
    playbook.kill()
    playbook.wait()
    wait_for(lambda: not alive(commands()[0]))


def test_the_next_run_gets_its_own_process_even_while_the_last_one_is_stopping(bound, owner):
    run, commands = bound
    first, second = owner(), owner()
    run("start", first.pid)
    wait_for(lambda: len(commands()) == 1)
    first.kill()
    first.wait()
    # At once, before the first run's supervisor has finished stopping its process.
    assert run("start", second.pid).stdout.startswith("started")
    wait_for(lambda: len(commands()) == 2)
    assert not alive(commands()[0]) and alive(commands()[1])
    time.sleep(2)
    assert alive(commands()[1])


def test_a_live_run_keeps_its_process(bound, owner):
    run, commands = bound
    first, second = owner(), owner()
    run("start", first.pid)
    wait_for(lambda: len(commands()) == 1)
    refused = run("start", second.pid)
    assert refused.returncode == 1 and "let it finish first" in refused.stderr
    assert alive(commands()[0])
