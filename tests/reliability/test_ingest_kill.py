"""kill -9 of an ingest at random points of its commit, and at each step of it: the index always
opens at the previous or the new generation, nothing committed is lost, and the next ingest
succeeds (and removes what the killed one left).

The killed process is a writer doing exactly what `flask ingest` does to the store (an
EmbeddedStore.upsert of embedded documents), with random unit vectors instead of a model's, so
that each trial takes a second rather than the time to load two models: the store's commit is
the part a kill can damage. Targeted kills replace one step of the commit with SIGKILL to the
process itself: after the new generation is written (before its rename), between the rename and
the replacement of CURRENT, and after CURRENT (before old generations are removed)."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.helpers import ROOT, TEST_META, random_documents
from webapp.store.embedded import EmbeddedStore

pytestmark = pytest.mark.slow

BATCH = 300
# The writer: prints "committing" when its upsert starts; with a STEP, SIGKILLs itself there.
WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from tests.helpers import TEST_META, random_documents
    from webapp.store import embedded
    path, start, step, batch = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    if step == "before-rename":
        real_rename = embedded.Path.rename
        embedded.Path.rename = lambda self, target: die() if self.name.startswith(".staging-") else real_rename(self, target)
    elif step == "before-current":
        real_replace = os.replace
        os.replace = lambda source, target: die() if str(target).endswith("CURRENT") else real_replace(source, target)
    elif step == "before-cleanup":
        embedded.EmbeddedStore._remove_old_generations = die
    documents, vectors = random_documents(batch, seed=start, start=start)
    print("committing", flush=True)
    embedded.EmbeddedStore(path).upsert(documents, vectors, TEST_META)
    print("committed", flush=True)
    """
)


def ids_in(path) -> set[str]:
    with EmbeddedStore(path).reading() as generation:
        return set(generation.ids()) if generation else set()


def run_writer(path, start: int, step: str = "none", kill_after_s: float | None = None) -> tuple[str, float]:
    """Run one writer; kill -9 it `kill_after_s` after its commit starts. Its last word, and the
    seconds from the start of its commit to its end."""
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(start), step, str(BATCH)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "committing"
    committing = time.monotonic()
    if kill_after_s is not None:
        time.sleep(kill_after_s)
        process.send_signal(signal.SIGKILL)
    rest = process.stdout.read().strip()
    process.wait(timeout=120)
    return ("killed" if process.returncode == -signal.SIGKILL else rest), time.monotonic() - committing


def test_an_ingest_killed_anywhere_loses_nothing_committed_and_never_blocks_the_next(tmp_path, scale, record_figures):
    path = tmp_path / "index"
    documents, vectors = random_documents(1500, seed=0)
    EmbeddedStore(path).upsert(documents, vectors, TEST_META)
    word, commit_s = run_writer(path, 100_000)
    assert word == "committed"
    committed = ids_in(path)
    rng = random.Random(7)
    trials = [(step, None) for step in ("before-rename", "before-current", "before-cleanup")]
    trials += [("none", rng.uniform(0, 1.5 * commit_s)) for _ in range(scale.ingest_random_kills)]
    outcomes = {"previous": 0, "new": 0}
    leftovers_recovered = 0
    for number, (step, kill_after_s) in enumerate(trials, start=1):
        start = 100_000 + number * BATCH
        word, _ = run_writer(path, start, step, kill_after_s)
        found = ids_in(path)
        batch = {f"doc-{i}" for i in range(start, start + BATCH)}
        assert found in (committed, committed | batch), f"trial {number} ({step}, {kill_after_s}): {word}"
        outcomes["new" if found == committed | batch else "previous"] += 1
        leftovers_recovered += bool(
            list(path.glob(".staging-*")) or len(list(path.glob("gen-*"))) > 2 or (path / ".CURRENT.tmp").exists()
        )
        # The next ingest: it succeeds, keeps everything committed and cleans up.
        follow = 500_000 + number * BATCH
        assert run_writer(path, follow)[0] == "committed", f"the ingest after trial {number} failed"
        committed = ids_in(path)
        assert batch | {f"doc-{i}" for i in range(follow, follow + BATCH)} <= committed | batch
        assert not list(path.glob(".staging-*")) and len(list(path.glob("gen-*"))) <= 2
    record_figures(
        trials=len(trials),
        targeted=3,
        random_kills=scale.ingest_random_kills,
        commit_seconds=round(commit_s, 3),
        opened_at=outcomes,
        trials_that_left_debris=leftovers_recovered,
        documents_at_end=len(committed),
    )
