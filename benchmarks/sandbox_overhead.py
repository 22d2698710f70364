"""Sandbox overhead per run: a warm fork-server worker against a cold start.

A trivial program (`def f(): return 1`, four trace frames) is traced N
times with `trace_program`, so what is timed is almost only the sandbox:

- warm: `Sandbox(size=1, preload=("opencwm.tracer.job",))`, one bubblewrap
  worker that has already imported the recorder and forks a child per run.
  The first run, which starts the worker, is reported apart.
- cold: the same with `warm=False`: every run starts a new bwrap and a new
  interpreter that imports opencwm, as a naive sandbox would. This is the
  baseline the fork server exists to beat.

- warm, bound tree: the warm worker again, with a directory of
  `--bound-files` files in the host's temp dir bound read-only under the
  sandbox's /tmp, as a checkout and virtualenv kept under /tmp are (about
  47,000 files). Its median must match plain warm (issue 19: a worker that
  walked such trees after every job made warm runs as slow as cold ones).

For the warm worker the time is also split: the worker's own share (fork,
run, reap; `ExecutionResult.duration_s`) and the in-process cost of the
recorder alone (`job.run` to /dev/null), so what remains is pipes and
host-side parsing. Targets (issue 19): warm median <= 5 ms, cold/warm >= 10x.

Run: .venv/bin/python benchmarks/sandbox_overhead.py [--runs N] [--cold-runs N] [--bound-files N]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from opencwm.sandbox.pool import Sandbox
from opencwm.sandbox.result import Limits
from opencwm.tracer import job
from opencwm.tracer.api import JOB, TraceConfig, trace_program

SOURCE = "def f():\n    return 1\n"
TARGET_WARM_MS = 5.0
TARGET_COLD_VS_WARM = 10.0
_PRELOAD = ("opencwm.tracer.job",)
_CONFIG = TraceConfig()
_PAYLOAD = {
    "source": SOURCE,
    "entry": "f",
    "input": "",
    "stdin": None,
    "max_frames": _CONFIG.max_frames,
    "max_bytes": _CONFIG.max_bytes,
    "repr_cap": _CONFIG.repr_cap,
    "repr_timeout_s": _CONFIG.repr_timeout_s,
}


def trace_times(sandbox: Sandbox, n: int) -> list[float]:
    """Seconds per `trace_program` call, each checked to have returned."""
    out = []
    for _ in range(n):
        start = time.perf_counter()
        trace = trace_program(SOURCE, "f", "", sandbox=sandbox)
        out.append(time.perf_counter() - start)
        assert trace.status == "returned" and trace.result == "1", (trace.status, trace.reason)
    return out


def worker_times(sandbox: Sandbox, n: int) -> tuple[list[float], list[float]]:
    """(round trip of `Sandbox.run`, the worker's fork-to-reap share), seconds."""
    limits = Limits(timeout_s=_CONFIG.timeout_s, memory_mb=_CONFIG.memory_mb)
    trips, inside = [], []
    for _ in range(n):
        start = time.perf_counter()
        result = sandbox.run(JOB, _PAYLOAD, limits)
        trips.append(time.perf_counter() - start)
        inside.append(result.duration_s)
        assert result.ok, result.describe()
    return trips, inside


def recorder_times(n: int) -> list[float]:
    """`job.run` in this process, output to /dev/null: the floor."""
    fd = os.open(os.devnull, os.O_WRONLY)
    out = []
    for _ in range(n):
        saved = sys.settrace, sys.stdout, sys.stderr, sys.stdin
        alarm = signal.getsignal(signal.SIGALRM)
        start = time.perf_counter()
        try:
            job.run(_PAYLOAD, fd, _CONFIG.timeout_s)
        finally:
            out.append(time.perf_counter() - start)
            sys.settrace, sys.stdout, sys.stderr, sys.stdin = saved
            signal.signal(signal.SIGALRM, alarm)
    os.close(fd)
    return out


def bound_tree(root: Path, n: int) -> Path:
    """`n` small files in directories of 100, like a virtualenv's."""
    for i in range(n):
        d = root / f"d{i // 100:04d}"
        if i % 100 == 0:
            d.mkdir(parents=True)
        (d / f"m{i % 100:02d}.py").write_text("X = 1\n")
    return root


def _p95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=20, method="inclusive")[18]


def _line(label: str, xs: list[float]) -> None:
    ms = 1e3
    print(
        f"{label:<34} {len(xs):>4} {statistics.median(xs) * ms:>9.2f} {_p95(xs) * ms:>9.2f} "
        f"{min(xs) * ms:>9.2f} {max(xs) * ms:>9.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="warm runs")
    parser.add_argument("--cold-runs", type=int, default=40, help="cold runs")
    parser.add_argument(
        "--bound-files", type=int, default=20_000, help="files in the tree bound under /tmp"
    )
    opts = parser.parse_args()

    with Sandbox(size=1, preload=_PRELOAD) as warm:
        first = trace_times(warm, 1)[0]
        warm_t = trace_times(warm, opts.runs)
        trips, inside = worker_times(warm, opts.runs)
    with tempfile.TemporaryDirectory(prefix="ocwm-bound-") as tmp:
        tree = str(bound_tree(Path(tmp) / "tree", opts.bound_files))
        with Sandbox(size=1, preload=_PRELOAD, ro_binds=(tree,)) as warm_bound:
            trace_times(warm_bound, 1)
            bound_t = trace_times(warm_bound, opts.runs)
    with Sandbox(size=1, preload=_PRELOAD, warm=False) as cold:
        cold_t = trace_times(cold, opts.cold_runs)
    floor = recorder_times(opts.runs)

    cols = ("n", "median ms", "p95 ms", "min ms", "max ms")
    head = f"{'trivial program, per run':<34} {cols[0]:>4} " + " ".join(f"{c:>9}" for c in cols[1:])
    print(head)
    print("-" * len(head))
    _line("warm: trace_program", warm_t)
    _line(f"warm, {opts.bound_files} files bound in /tmp", bound_t)
    _line("  warm: Sandbox.run round trip", trips)
    _line("  warm: worker fork-to-reap", inside)
    _line("  in-process job.run (no sandbox)", floor)
    _line("cold: trace_program (warm=False)", cold_t)
    print("-" * len(head))
    warm_med, cold_med = statistics.median(warm_t), statistics.median(cold_t)
    bound_med = statistics.median(bound_t)
    ratio = cold_med / warm_med
    met = warm_med * 1e3 <= TARGET_WARM_MS and ratio >= TARGET_COLD_VS_WARM
    print(f"first warm run (starts the worker): {first * 1e3:.1f} ms")
    print(f"cold/warm median: {ratio:.1f}x (target >= {TARGET_COLD_VS_WARM:g}x)")
    print(f"warm with the bound tree / warm: {bound_med / warm_med:.2f}x")
    verdict = "met" if met else "NOT met"
    print(f"target warm median <= {TARGET_WARM_MS:g} ms: {warm_med * 1e3:.2f} ms ({verdict})")
    print(
        json.dumps(
            {
                "benchmark": "sandbox_overhead",
                "date": datetime.date.today().isoformat(),
                "tmp": tempfile.gettempdir(),
                "checkout": os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                "warm_median_ms": round(warm_med * 1e3, 2),
                "warm_p95_ms": round(_p95(warm_t) * 1e3, 2),
                "warm_bound_tree_median_ms": round(bound_med * 1e3, 2),
                "bound_files": opts.bound_files,
                "cold_median_ms": round(cold_med * 1e3, 2),
                "cold_p95_ms": round(_p95(cold_t) * 1e3, 2),
                "cold_vs_warm": round(ratio, 1),
                "worker_start_ms": round(first * 1e3, 1),
                "worker_fork_to_reap_median_ms": round(statistics.median(inside) * 1e3, 2),
                "in_process_job_median_ms": round(statistics.median(floor) * 1e3, 3),
                "target_met": met,
            }
        )
    )


if __name__ == "__main__":
    main()
