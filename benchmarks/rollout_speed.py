"""Rollout speed: frames/s with the KV cache kept across steps, and without.

A rollout asks the model for one frame at a time, and the prompt only
grows at its end, so `LocalBackend` keeps its KV cache from call to call
and from token to token (`reuse_cache=True`); the baseline
(`reuse_cache=False`) runs the whole prompt through the model again for
every generated token, as a naive generate-per-step loop does.

What is timed is `rollout` itself (prompt building, the window policy,
parsing) on the same programs with the same model, greedy. So that the
run does not stop at a small model's first mistake, each step goes through
`TeacherForced`: the model generates as many tokens as the real frame has
(real work, the same in both modes), and the real frame is what the
rollout receives. Each mode runs in a fresh subprocess so its peak RSS
(`resource.getrusage`) is its own. Target (issue 4): ratio >= 3x.

Run: .venv/bin/python benchmarks/rollout_speed.py [--model DIR] [--programs N] [--frames N]
(about 9 minutes on 2 shared cores with the defaults, mostly the baseline)
The model defaults to models/cwm-tiny, else a quick one trained into /tmp
(see `quick_model`).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUICK = Path("/tmp/opencwm-bench/cwm-quick")
TARGET = 3.0


class TeacherForced:
    """A `Backend` that runs the real model for every step (the cost) and
    answers with the real trace's next frame (so the rollout goes on)."""

    def __init__(self, inner, replies: list[str]) -> None:
        self.inner = inner
        self.replies = list(replies)
        self.context_tokens = inner.context_tokens
        self.generated = 0

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def complete(self, prompt: str, sampling) -> str:
        reply = self.replies.pop(0)
        n = self.inner.count_tokens(reply)
        out = self.inner.complete(prompt, replace(sampling, max_tokens=n))
        self.generated += self.inner.count_tokens(out)
        return reply


def cases(n_programs: int) -> list[tuple[str, str, str, str]]:
    """(name, source, entry, input): the bundled examples, then the tracer
    benchmark programs."""
    sys.path.insert(0, str(HERE))
    from programs import PROGRAMS

    from opencwm.examples import example_args, example_paths

    out = []
    for path in example_paths():
        source = path.read_text(encoding="utf-8")
        args, stdin = example_args(source)
        if stdin is None:  # a rollout takes no stdin
            out.append((path.stem, source, None, args))
    out += [(p.name, p.source, p.entry, p.input) for p in PROGRAMS]
    return out[:n_programs]


def measure(model: str, reuse: bool, n_programs: int, frames: int, threads: int) -> dict:
    """One mode, in this process: frames/s over all cases."""
    import torch

    torch.set_num_threads(threads)
    from opencwm.tracer.api import TraceConfig, trace_program
    from opencwm.world.backends import LocalBackend, Sampling
    from opencwm.world.fake import replay_replies
    from opencwm.world.rollout import RolloutConfig, rollout

    backend = LocalBackend(model, device="cpu")
    backend.reuse_cache = reuse
    config = RolloutConfig(max_frames=frames, sampling=Sampling())
    rows, total_frames, total_tokens, total_s = [], 0, 0, 0.0
    for name, source, entry, args in cases(n_programs):
        real = trace_program(source, entry, args, config=TraceConfig(max_frames=frames))
        forced = TeacherForced(backend, replay_replies(real))
        start = time.perf_counter()
        imagined, _ = rollout(source, entry, args, forced, config)
        seconds = time.perf_counter() - start
        assert imagined.frames == real.frames[: len(imagined.frames)], name
        n = len(imagined.frames) - 1  # the call frame is given, not predicted
        rows.append({"program": name, "frames": n, "tokens": forced.generated, "s": seconds})
        total_frames += n
        total_tokens += forced.generated
        total_s += seconds
    return {
        "reuse_cache": reuse,
        "frames": total_frames,
        "tokens": total_tokens,
        "seconds": total_s,
        "frames_per_s": total_frames / total_s,
        "tokens_per_s": total_tokens / total_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "torch_threads": torch.get_num_threads(),
        "rows": rows,
    }


def quick_model() -> Path:
    """A 20-step tiny model on HumanEval traces (~5 min on 2 cores): enough
    for timing, which does not depend on what the weights learned."""
    if (QUICK / "config.json").exists():
        return QUICK
    corpus = QUICK.parent / "humaneval"
    if not (corpus / "manifest.json").exists():
        cli = [sys.executable, "-m", "opencwm", "data", "build", "--source", "humaneval"]
        subprocess.run([*cli, "--out", str(corpus)], check=True)
    from opencwm.model.train import TrainConfig, train

    train(
        TrainConfig(
            data=str(corpus), out=str(QUICK), steps=20, batch_size=4, block=512,
            eval_every=10, save_every=20, warmup=2,
        )
    )  # fmt: skip
    return QUICK


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model directory (default: models/cwm-tiny, else quick)")
    parser.add_argument("--programs", type=int, default=5, help="how many programs")
    parser.add_argument("--frames", type=int, default=24, help="frames per rollout at most")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1: stable on a shared machine)"
    )
    parser.add_argument("--only", choices=["reuse", "recompute"], help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.only:  # a child: one mode, JSON on stdout
        print(json.dumps(measure(a.model, a.only == "reuse", a.programs, a.frames, a.threads)))
        return

    from opencwm.world import bundled_model

    model = Path(a.model) if a.model else bundled_model()
    if not (model / "config.json").exists():
        model = quick_model()
    results = {}
    for mode in ("reuse", "recompute"):
        child = [sys.executable, __file__, "--model", str(model), "--only", mode]
        child += ["--programs", str(a.programs), "--frames", str(a.frames)]
        child += ["--threads", str(a.threads)]
        out = subprocess.run(child, check=True, stdout=subprocess.PIPE, text=True).stdout
        results[mode] = json.loads(out.strip().splitlines()[-1])

    reuse, base = results["reuse"], results["recompute"]
    print(f"model {model}; {platform.processor() or platform.machine()}, ", end="")
    print(f"{reuse['torch_threads']} torch threads; greedy, teacher-forced frames\n")
    print(f"{'program':<22}{'frames':>7}{'tokens':>8}{'reuse s':>9}{'recompute s':>13}{'ratio':>7}")
    for r, b in zip(reuse["rows"], base["rows"], strict=True):
        ratio = b["s"] / r["s"]
        print(
            f"{r['program']:<22}{r['frames']:>7}{r['tokens']:>8}"
            f"{r['s']:>9.2f}{b['s']:>13.2f}{ratio:>6.1f}x"
        )
    ratio = reuse["frames_per_s"] / base["frames_per_s"]
    print(
        f"\n{'all':<22}{reuse['frames']:>7}{reuse['tokens']:>8}"
        f"{reuse['seconds']:>9.2f}{base['seconds']:>13.2f}{ratio:>6.1f}x"
    )
    print(
        f"frames/s: {reuse['frames_per_s']:.2f} with the cache kept, "
        f"{base['frames_per_s']:.2f} recomputed (target >= {TARGET:g}x: "
        f"{'met' if ratio >= TARGET else 'NOT met'})"
    )
    print(
        f"peak RSS: {reuse['peak_rss_mb']:.0f} MB with the cache kept, "
        f"{base['peak_rss_mb']:.0f} MB recomputed"
    )
    summary = {
        "benchmark": "rollout_speed",
        "model": str(model),
        "frames": reuse["frames"],
        "frames_per_s_reuse": round(reuse["frames_per_s"], 3),
        "frames_per_s_recompute": round(base["frames_per_s"], 3),
        "ratio": round(ratio, 2),
        "target": TARGET,
        "peak_rss_mb_reuse": round(reuse["peak_rss_mb"], 1),
        "peak_rss_mb_recompute": round(base["peak_rss_mb"], 1),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
