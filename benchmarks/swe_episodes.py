"""Episodes per minute with 1 and 2 workers: does the loop scale?

The oracle agent (edit per hunk, then submit: workspace setup, tool calls
and a full reward per episode) runs on the same N tasks with 1 worker and
then with W workers; the ratio of episodes per minute is the scaling.
Each episode is independent (own scratch folder, own sandbox uids), so on
an idle machine with W free cores the ratio should approach W. Target
(issue 6): >= 1.6x with 2 workers.

Run: .venv/bin/python benchmarks/swe_episodes.py [--tasks data/swe/tasks.jsonl] [--n 24]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from opencwm.swe.runner import RunConfig, run
from opencwm.swe.task import load_tasks

TARGET_SCALING = 1.6


def spread(tasks: list, n: int) -> list:
    """n tasks taken round-robin across repositories, so each run has the same mix."""
    by_repo: dict[str, list] = {}
    for t in tasks:
        by_repo.setdefault(t.repo, []).append(t)
    out: list = []
    while len(out) < n and any(by_repo.values()):
        for repo in sorted(by_repo):
            if by_repo[repo] and len(out) < n:
                out.append(by_repo[repo].pop(0))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=Path, default=Path("data/swe/tasks.jsonl"))
    parser.add_argument("--n", type=int, default=24)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    tasks = spread(load_tasks(args.tasks), args.n)
    repos = args.tasks.parent / "repos"
    run(RunConfig(tasks[:2], repos, "oracle"))  # warm caches
    rows = []
    for workers in (1, args.workers):
        start = time.perf_counter()
        trajectories = run(RunConfig(tasks, repos, "oracle", workers=workers))
        seconds = time.perf_counter() - start
        assert all(t["resolved"] for t in trajectories), [
            (t["instance_id"], t["verdict"]["reason"]) for t in trajectories if not t["resolved"]
        ]
        rows.append({
            "workers": workers,
            "episodes": len(trajectories),
            "seconds": round(seconds, 2),
            "episodes_per_min": round(60 * len(trajectories) / seconds, 1),
        })  # fmt: skip
    scaling = rows[1]["episodes_per_min"] / rows[0]["episodes_per_min"]
    print(f"{'workers':>8}{'episodes':>10}{'seconds':>10}{'episodes/min':>14}")
    for r in rows:
        print(f"{r['workers']:>8}{r['episodes']:>10}{r['seconds']:>10}{r['episodes_per_min']:>14}")
    load = os.getloadavg()[0]
    print(f"scaling with {args.workers} workers: {scaling:.2f}x (target {TARGET_SCALING}x; "
          f"{os.cpu_count()} cores, load average {load:.1f} at the end)")  # fmt: skip
    print(json.dumps({"benchmark": "swe_episodes", "rows": rows, "scaling": round(scaling, 2),
                      "cores": os.cpu_count(), "load_avg_1m": round(load, 2)}))  # fmt: skip


if __name__ == "__main__":
    main()
