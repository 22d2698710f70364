"""Tracing cost of concurrent programs against single-threaded ones of the
same length, in one process.

Programs: a generated `distributed:` system (election, 5 nodes: the longest
kind) and an asyncio program of worker tasks, each traced with the
concurrent recorder; for each, a single-threaded program (objects with a
`__repr__`, a loop of method calls) sized to the same number of frames,
traced with the plain recorder. Each is run untraced and traced through
`opencwm.tracer.job.run` (what the sandboxed child runs) with its frames
written to /dev/null; repetitions are interleaved and each figure is the
median.

Reported per pair: frames (concurrent, single), the tracing cost per frame
((traced - untraced) / frames) of each, `ratio` (concurrent / single of
that cost: the issue's target is within 2x), `traced` (the same ratio of
whole traced runs per frame) and `actors`: the concurrent program traced
with the concurrent recorder over the same program traced by the plain
one (what naming actors and message frames itself costs).

Run: .venv/bin/python benchmarks/concurrent_overhead.py [--reps N]
"""

from __future__ import annotations

import argparse
import builtins
import json
import os
import random
import statistics
import sys
import tempfile
import time

from opencwm.distributed.systems import generate
from opencwm.tracer import job

ASYNC = """import asyncio

async def worker(name, n):
    total = 0
    for i in range(n):
        total += i
        await asyncio.sleep(0)
    return total

async def crowd(k, n):
    tasks = [asyncio.create_task(worker(f"w{j}", n), name=f"w{j}") for j in range(k)]
    return [await t for t in tasks]

def main(n):  # << START_OF_TRACE
    return asyncio.run(crowd(4, n))
"""

SINGLE = """class Account:
    def __init__(self, name):
        self.name = name
        self.balance = 0
        self.seen = 0

    def __repr__(self):
        return f"Account(name={self.name!r}, balance={self.balance!r}, seen={self.seen!r})"

    def deposit(self, x):
        self.balance += x
        self.seen += 1
        return self.balance


def main(n):  # << START_OF_TRACE
    accounts = [Account("a"), Account("b"), Account("c")]
    total = 0
    for i in range(n):
        acc = accounts[i % 3]
        total += acc.deposit(i % 7)
    return total
"""


def untraced(source: str, arg: str) -> float:
    ns = {"__name__": "__program__", "__builtins__": builtins}
    start = time.perf_counter()
    exec(compile(source, "<bench>", "exec"), ns)
    ns["main"](*eval(f"({arg},)"))
    return time.perf_counter() - start


PAYLOAD = {"entry": "main", "stdin": None, "max_frames": 10**7, "max_bytes": 10**10}
PAYLOAD |= {"repr_cap": 200, "repr_timeout_s": 0.5}


def run_job(source: str, arg: str, fd: int) -> float:
    """`job.run` in this process; restores what it leaves behind (stdio and
    a refusing `sys.settrace`: the sandboxed child exits instead)."""
    saved = sys.settrace, sys.stdout, sys.stderr, sys.stdin
    start = time.perf_counter()
    try:
        job.run({**PAYLOAD, "source": source, "input": arg}, fd, timeout_s=60)
    finally:
        elapsed = time.perf_counter() - start
        sys.settrace, sys.stdout, sys.stderr, sys.stdin = saved
    return elapsed


def traced(source: str, arg: str, plain: bool = False) -> float:
    """`plain`: trace with the single-activity recorder even so (no actors)."""
    out = os.open(os.devnull, os.O_WRONLY)
    concurrent = job.is_concurrent
    if plain:
        job.is_concurrent = lambda source: False
    try:
        return run_job(source, arg, out)
    finally:
        job.is_concurrent = concurrent
        os.close(out)


_frames: dict = {}


def frames(source: str, arg: str) -> int:
    """Frames of one traced run (counted once)."""
    if (source, arg) not in _frames:
        with tempfile.TemporaryFile() as f:
            run_job(source, arg, f.fileno())
            f.seek(0)
            _frames[source, arg] = f.read().count(b"\n") - 1  # less the end record
    return _frames[source, arg]


def sized_single(n_frames: int) -> str:
    """The input of SINGLE whose trace has about `n_frames` frames."""
    per = (frames(SINGLE, "300") - frames(SINGLE, "100")) / 200
    return str(max(1, round((n_frames - frames(SINGLE, "100")) / per + 100)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    system = generate(random.Random(7), "election")
    pairs = {
        "distributed (election)": (system.code, system.input),
        "asyncio (4 tasks)": (ASYNC, "60"),
    }
    rows = []
    for name, (source, arg) in pairs.items():
        n = frames(source, arg)
        single = (SINGLE, sized_single(n))
        times = {"c0": [], "c1": [], "cp": [], "s0": [], "s1": []}
        for _ in range(args.reps):
            times["c0"].append(untraced(source, arg))
            times["c1"].append(traced(source, arg))
            times["cp"].append(traced(source, arg, plain=True))
            times["s0"].append(untraced(*single))
            times["s1"].append(traced(*single))
        med = {k: statistics.median(v) for k, v in times.items()}
        ns = frames(*single)
        cost_c = (med["c1"] - med["c0"]) / n * 1e6
        cost_s = (med["s1"] - med["s0"]) / ns * 1e6
        rows.append(
            {
                "pair": name,
                "frames": n,
                "single_frames": ns,
                "cost_us_per_frame": round(cost_c, 2),
                "single_cost_us_per_frame": round(cost_s, 2),
                "cost_ratio": round(cost_c / cost_s, 2),
                "traced_ratio": round((med["c1"] / n) / (med["s1"] / ns), 2),
                "actors_vs_plain": round(med["c1"] / med["cp"], 2),
            }
        )
    print(
        f"{'pair':<24}{'frames':>8}{'single':>8}{'us/frame':>10}{'single':>8}"
        f"{'ratio':>7}{'traced':>8}{'actors':>8}"
    )
    for r in rows:
        print(
            f"{r['pair']:<24}{r['frames']:>8}{r['single_frames']:>8}"
            f"{r['cost_us_per_frame']:>10}{r['single_cost_us_per_frame']:>8}"
            f"{r['cost_ratio']:>7}{r['traced_ratio']:>8}{r['actors_vs_plain']:>8}"
        )
    print(json.dumps({"python": sys.version.split()[0], "reps": args.reps, "rows": rows}))


if __name__ == "__main__":
    main()
