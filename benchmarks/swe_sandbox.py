"""Sandboxed bash round trip: what one agent `bash` command costs.

`run_command("echo ok")` on a small workspace, N times, timed from the
host's call to its return: fresh bwrap, prlimit, setpriv, bash, and (where
the host allows) a cgroup made and removed. Baselines in the same run:

- bash: `bash -c "echo ok"` as a plain subprocess, no sandbox at all;
- no cgroup: run_command with cgroups switched off, to show their share.

Target (issue 6): sandboxed median <= 50 ms.

Run: .venv/bin/python benchmarks/swe_sandbox.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from opencwm.sandbox import command
from opencwm.sandbox.command import run_command
from opencwm.sandbox.result import Limits

TARGET_MS = 50.0
LIMITS = Limits(timeout_s=10, memory_mb=2048, nproc=128, nofile=1024, max_output_bytes=16384)


def times(fn, n: int) -> list[float]:
    fn()  # warm the page cache and any lazy setup
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def row(name: str, ts: list[float]) -> dict:
    ms = sorted(t * 1000 for t in ts)
    return {
        "variant": name,
        "median_ms": round(statistics.median(ms), 2),
        "p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 2),
        "min_ms": round(ms[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    ws = Path(tempfile.mkdtemp(prefix="opencwm-bench-"))
    (ws / "a.txt").write_text("x\n")
    try:

        def sandboxed() -> None:
            r = run_command("echo ok", workspace=ws, limits=LIMITS)
            assert r.output == b"ok\n", r

        rows = [
            row("bash (no sandbox)", times(lambda: subprocess.run(["bash", "-c", "echo ok"],
                                                                 capture_output=True), args.runs)),
            row("run_command", times(sandboxed, args.runs)),
        ]  # fmt: skip
        cgroups = bool(command._cgroup_bases())
        if cgroups:
            saved = command._cgroup_bases
            command._cgroup_bases = lambda: ()
            try:
                rows.append(row("run_command, no cgroup", times(sandboxed, args.runs)))
            finally:
                command._cgroup_bases = saved
    finally:
        shutil.rmtree(ws, ignore_errors=True)
    print(f"{'variant':<26}{'median ms':>10}{'p90 ms':>10}{'min ms':>10}")
    for r in rows:
        print(f"{r['variant']:<26}{r['median_ms']:>10}{r['p90_ms']:>10}{r['min_ms']:>10}")
    sandbox_ms = rows[1]["median_ms"]
    verdict = "meets" if sandbox_ms <= TARGET_MS else "misses"
    print(
        f"sandboxed bash round trip: median {sandbox_ms} ms ({verdict} the {TARGET_MS:g} ms target)"
    )
    print(json.dumps({"benchmark": "swe_sandbox", "runs": args.runs, "cgroups": cgroups,
                      "target_ms": TARGET_MS, "rows": rows}))  # fmt: skip


if __name__ == "__main__":
    main()
