"""The reward: do the hidden tests pass on what the agent changed?

Steps, each in a place the agent never touched:
1. diff the agent's workspace against the pristine snapshot (the harness's
   own file-by-file diff, not the workspace's git), dropping protected
   changes (see `workspace.protected_reason`);
2. apply the rest to a fresh copy of the snapshot, then add the hidden
   tests (`test_patch`);
3. run pytest the harness's way (`testrun.py`) on exactly the
   FAIL_TO_PASS and PASS_TO_PASS ids, as a fresh sandbox uid.

Reward 1 only if every listed test passed, nothing failed to collect, and
pytest's exit code and its report agree on success. Optional shaping (as
CWM does): an unresolved episode earns `shaping * similarity` between the
gold patch and the agent's diff.
"""

from __future__ import annotations

import difflib
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from opencwm.swe.task import RepoStore, Task
from opencwm.swe.testrun import TestRun, run_tests
from opencwm.swe.workspace import apply_changes, apply_patch, changes_diff, diff_trees, scrub


@dataclass
class Verdict:
    """How one submission was graded: the reward and every reason behind it."""

    reward: float
    resolved: bool
    reason: str  # one line: what decided the reward
    fail_to_pass: dict[str, str] = field(default_factory=dict)  # id -> status
    pass_to_pass: dict[str, str] = field(default_factory=dict)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (path, why) not applied
    patch: str = ""  # the harness-computed diff that was applied
    similarity: float = 0.0  # to the gold patch, 0..1
    duration_s: float = 0.0
    tests: dict = field(default_factory=dict)  # TestRun.to_dict()

    def to_dict(self) -> dict:
        return {
            "reward": self.reward,
            "resolved": self.resolved,
            "reason": self.reason,
            "fail_to_pass": self.fail_to_pass,
            "pass_to_pass": self.pass_to_pass,
            "refused": [list(r) for r in self.refused],
            "patch": self.patch,
            "similarity": round(self.similarity, 4),
            "duration_s": round(self.duration_s, 3),
            "tests": self.tests,
        }


def similarity(gold: str, pred: str) -> float:
    """SWE-RL's shaping signal: how alike two patches read (0..1)."""
    if not pred.strip():
        return 0.0
    return difflib.SequenceMatcher(None, gold, pred, autojunk=False).ratio()


def judge(task: Task, run: TestRun) -> tuple[bool, str]:
    """(resolved, why) from one harness test run."""
    if run.error:
        return False, run.error
    if run.collect_errors:
        where, message = run.collect_errors[0]
        first = message.strip().splitlines()[-1:] or [""]
        return False, f"{len(run.collect_errors)} collection error(s), e.g. {where}: {first[0]}"
    for kind, ids in (("FAIL_TO_PASS", task.FAIL_TO_PASS), ("PASS_TO_PASS", task.PASS_TO_PASS)):
        bad = [t for t in ids if run.status(t) != "passed"]
        if bad:
            return (
                False,
                f"{len(bad)} {kind} test(s) did not pass, e.g. {bad[0]} ({run.status(bad[0])})",
            )
    if run.exit_code != 0 or run.report_exitstatus != 0:
        return False, (
            f"pytest exited with {run.exit_code} (report: {run.report_exitstatus}) "
            "although every listed test passed"
        )
    return True, "every FAIL_TO_PASS and PASS_TO_PASS test passed"


def evaluate(
    task: Task,
    snapshot: Path,
    workspace: Path,
    *,
    timeout_s: float = 120.0,
    shaping: float = 0.0,
    scratch: Path | None = None,
) -> Verdict:
    """Grade the workspace of an episode against its pristine snapshot."""
    start = time.monotonic()
    changes, refused = diff_trees(snapshot, workspace)
    patch = changes_diff(changes)
    sim = similarity(task.patch, patch)
    root = Path(tempfile.mkdtemp(prefix="opencwm-eval-", dir=scratch))
    try:
        repo = root / "repo"
        shutil.copytree(snapshot, repo, symlinks=True)
        apply_changes(repo, changes)
        scrub(repo)
        try:
            apply_patch(repo, task.test_patch)
        except RuntimeError as exc:
            resolved, reason, run = False, f"the hidden tests could not be added: {exc}", None
        else:
            run = run_tests(repo, [*task.FAIL_TO_PASS, *task.PASS_TO_PASS], timeout_s=timeout_s)
            resolved, reason = judge(task, run)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return Verdict(
        reward=1.0 if resolved else round(shaping * sim, 4),
        resolved=resolved,
        reason=reason,
        fail_to_pass={t: run.status(t) for t in task.FAIL_TO_PASS} if run else {},
        pass_to_pass={t: run.status(t) for t in task.PASS_TO_PASS} if run else {},
        refused=refused,
        patch=patch,
        similarity=sim,
        duration_s=time.monotonic() - start,
        tests=run.to_dict() if run else {},
    )


def score_patch(
    task: Task,
    store: RepoStore,
    patch: str,
    *,
    timeout_s: float = 120.0,
    scratch: Path | None = None,
) -> Verdict:
    """Grade a patch against the task's base without an agent (validation, benchmarks)."""
    root = Path(tempfile.mkdtemp(prefix="opencwm-score-", dir=scratch))
    try:
        snapshot, work = root / "snapshot", root / "work"
        store.export(task, snapshot)
        scrub(snapshot)
        shutil.copytree(snapshot, work, symlinks=True)
        apply_patch(work, patch)
        return evaluate(task, snapshot, work, timeout_s=timeout_s, scratch=scratch)
    finally:
        shutil.rmtree(root, ignore_errors=True)
