"""Eval speed: `eval trace` with frames decoded one at a time, and in batches.

The baseline is batch size 1, the sequential path `eval trace` took before
batching: one prompt per `LocalBackend.complete`, its KV cache kept from
call to call. Each other batch size runs the same evaluation (same model,
traces, greedy, constrained) in the same process, and its report must be
the one the baseline wrote, less the wall time: the batch changes the
speed, not the answer. Teacher-forced steps and free-running rollouts are
timed apart (one `evaluate` per mode), since they batch differently (steps
of the same trace share their prefixes; rollouts run in lockstep).

Run: nice .venv/bin/python benchmarks/eval_speed.py [--model DIR] [--data DIR]
     [--split S] [--traces K] [--batch-sizes 1,16] [--max-tokens N]
Without --data, a synthetic corpus is built in data/synth200 (git-ignored)
with `opencwm data build --source synthetic:200`. The model defaults to
models/cwm-tiny, decoding on one thread (as `eval trace` does).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SYNTH = ROOT / "data" / "synth200"


def corpus(data: str | None) -> Path:
    if data:
        return Path(data)
    if not (SYNTH / "manifest.json").exists():
        cmd = [sys.executable, "-m", "opencwm", "data", "build", "--source", "synthetic:200"]
        subprocess.run([*cmd, "--out", str(SYNTH), "--workers", "1"], check=True)
    return SYNTH


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "models" / "cwm-tiny"))
    ap.add_argument("--data", help="a built corpus (default: data/synth200, built if missing)")
    ap.add_argument("--split", default="train")
    ap.add_argument("--traces", type=int, default=12)
    ap.add_argument("--batch-sizes", default="1,16", help="the first is the baseline")
    ap.add_argument("--max-tokens", type=int, default=200)
    args = ap.parse_args()

    from opencwm.eval.trace_eval import TraceEvalConfig, evaluate
    from opencwm.world.backends import LocalBackend, Sampling

    backend = LocalBackend(args.model)
    base = TraceEvalConfig(
        corpus(args.data), args.split, args.traces, Sampling(max_tokens=args.max_tokens)
    )
    sizes = [int(x) for x in args.batch_sizes.split(",")]
    rows, reports = [], {}
    for size in sizes:
        seconds, parts = {}, {}
        for mode in ("teacher_forced", "free_running"):
            config = replace(
                base,
                batch_size=size,
                teacher_forced=mode == "teacher_forced",
                free_running=mode == "free_running",
            )
            start = time.perf_counter()
            report = evaluate(config, backend)
            seconds[mode] = time.perf_counter() - start
            parts[mode] = {k: v for k, v in report.items() if k != "seconds"}
        reports[size] = parts
        same = parts == reports[sizes[0]]
        rows.append({"batch_size": size, **seconds, "same_report": same})
        print(
            f"batch {size:>3}: teacher-forced {seconds['teacher_forced']:7.1f} s, "
            f"free-running {seconds['free_running']:7.1f} s, report "
            f"{'identical to batch ' + str(sizes[0]) if same else 'DIFFERENT'}",
            flush=True,
        )
    steps = reports[sizes[0]]["teacher_forced"]["steps"]
    rollouts = reports[sizes[0]]["free_running"]["per_trace"]
    frames = sum(t["free_running"]["frames"] for t in rollouts)
    first = rows[0]
    print(f"\n{args.traces} traces of {base.data.name}/{args.split}: {steps} teacher-forced steps, "
          f"{frames} free-running frames; ratios against batch {sizes[0]}:")  # fmt: skip
    for row in rows:
        total = row["teacher_forced"] + row["free_running"]
        row["ratio"] = {
            "teacher_forced": first["teacher_forced"] / row["teacher_forced"],
            "free_running": first["free_running"] / row["free_running"],
            "total": (first["teacher_forced"] + first["free_running"]) / total,
        }
        r = row["ratio"]
        print(
            f"  batch {row['batch_size']:>3}: {total:7.1f} s in all; teacher-forced "
            f"{r['teacher_forced']:.2f}x, free-running {r['free_running']:.2f}x, "
            f"total {r['total']:.2f}x"
        )
    print(
        json.dumps(
            {
                "benchmark": "eval_speed",
                "model": Path(args.model).name,
                "data": f"{base.data.name}/{args.split}",
                "traces": args.traces,
                "steps": steps,
                "free_running_frames": frames,
                "max_tokens": args.max_tokens,
                "machine": platform.machine(),
                "runs": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
