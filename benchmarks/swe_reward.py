"""Reward computation per task: what grading one submission costs.

For up to K tasks per repository of a built task set, the gold patch is
graded by `score_patch` (export the base, apply the patch, then the timed
part, `evaluate`: harness diff, fresh copy, hidden tests added, pytest in
a fresh sandbox). Baseline in the same run: the bare pytest run of the
same test ids on an already prepared tree (`run_tests`), i.e. what the
tests alone cost without the harness around them.

Run: .venv/bin/python benchmarks/swe_reward.py [--tasks data/swe/tasks.jsonl] [--per-repo K]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from opencwm.swe.reward import score_patch
from opencwm.swe.task import RepoStore, load_tasks
from opencwm.swe.testrun import run_tests
from opencwm.swe.workspace import apply_patch


def bare_tests_s(task, store: RepoStore) -> float:
    root = Path(tempfile.mkdtemp(prefix="opencwm-bench-"))
    try:
        store.export(task, root)
        apply_patch(root, task.patch)
        apply_patch(root, task.test_patch)
        start = time.perf_counter()
        run = run_tests(root, [*task.FAIL_TO_PASS, *task.PASS_TO_PASS])
        assert not run.error, run.error
        return time.perf_counter() - start
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=Path, default=Path("data/swe/tasks.jsonl"))
    parser.add_argument("--per-repo", type=int, default=5)
    args = parser.parse_args()
    store = RepoStore(args.tasks.parent / "repos")
    by_repo = defaultdict(list)
    for t in load_tasks(args.tasks):
        if len(by_repo[t.repo]) < args.per_repo:
            by_repo[t.repo].append(t)
    rows = []
    for repo, tasks in sorted(by_repo.items()):
        grade, bare, tests = [], [], []
        for t in tasks:
            verdict = score_patch(t, store, t.patch)
            assert verdict.resolved, (t.instance_id, verdict.reason)
            grade.append(verdict.duration_s)
            bare.append(bare_tests_s(t, store))
            tests.append(len(t.FAIL_TO_PASS) + len(t.PASS_TO_PASS))
        rows.append({
            "repo": repo,
            "tasks": len(tasks),
            "tests_per_task": round(statistics.fmean(tests), 1),
            "reward_median_s": round(statistics.median(grade), 3),
            "bare_pytest_median_s": round(statistics.median(bare), 3),
        })  # fmt: skip
    print(f"{'repo':<20}{'tasks':>6}{'tests':>8}{'reward s':>10}{'bare pytest s':>15}")
    for r in rows:
        print(f"{r['repo']:<20}{r['tasks']:>6}{r['tests_per_task']:>8}"
              f"{r['reward_median_s']:>10}{r['bare_pytest_median_s']:>15}")  # fmt: skip
    overall = statistics.median(r["reward_median_s"] for r in rows)
    print(f"reward computation: median over repositories {overall:.3f} s per task")
    print(json.dumps({"benchmark": "swe_reward", "tasks_file": str(args.tasks), "rows": rows,
                      "median_reward_s": round(overall, 3)}))  # fmt: skip


if __name__ == "__main__":
    main()
