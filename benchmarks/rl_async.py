"""Asynchronous vs synchronous RL under heavy-tailed environment latency.

Environment latency is log-normal (median `--median`, log-std swept over
`--sigmas`; 0 is constant), simulated with sleeps, so it costs no CPU.
Three schedules run on the same machine with the same seeds, in this one
process, on one local Ray instance:

- sync:   S = 0, no in-flight updates (generate batch k with policy k, train, repeat);
- off1:   S = 1, the one-step-off-policy middle ground;
- async:  S = 4 with in-flight weight updates (samplers never wait for the learner).

Reported per run: seconds to a fixed number of trained tokens (the fewest
any run of that spread trained), counted from the end of step 0 so actor
start-up is left out alike, the learner's idle fraction over the same
span, and the ratio against the synchronous run of the same spread. The policy is the micro
preset with cwm-tiny's tokenizer; a long filler prompt makes the learner's
forward and backward pass the heaviest piece of compute, as it is at scale.

    nice -n 15 .venv/bin/python benchmarks/rl_async.py
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

SCHEDULES = {
    "sync": ["max_staleness=0", "sampling.inflight_updates=false"],
    "off1": ["max_staleness=1"],
    "async": ["max_staleness=4"],
}


def time_to(lines: list[dict], tokens: int) -> float:
    """Seconds from the end of step 0 (actors built, first batch trained: the
    same warm-up for every schedule) until `tokens` more were trained."""
    total = 0
    for ln in lines[1:]:
        total += ln["tokens_trained"]
        if total >= tokens:
            return ln["wall_s"] - lines[0]["wall_s"]
    return float("nan")


def learner_idle(lines: list[dict]) -> float:
    """Idle fraction of the learner after step 0 (step 0 waits for actors to start)."""
    idle = sum(ln["idle_s"] for ln in lines[1:])
    busy = sum(ln["train_s"] + ln["publish_s"] for ln in lines[1:])
    return idle / (idle + busy)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sigmas", default="0,0.75,1.5")
    ap.add_argument("--median", type=float, default=0.25)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--prompt-chars", type=int, default=1500)
    args = ap.parse_args()

    import ray

    from opencwm.rl.config import load_config
    from opencwm.rl.metrics import read, summary
    from opencwm.rl.run import run

    ray.init(
        num_cpus=2, include_dashboard=False, object_store_memory=256 << 20, log_to_driver=False
    )
    rows = []
    root = Path(tempfile.mkdtemp(prefix="rl-bench-"))
    for sigma in [float(s) for s in args.sigmas.split(",")]:
        runs = {}
        for name, extra in SCHEDULES.items():
            cfg = load_config(
                None,
                [
                    "model.preset=micro",
                    "env.kind=latency",
                    f"env.latency.median_s={args.median}",
                    f"env.latency.sigma={sigma}",
                    f"env.prompt_chars={args.prompt_chars}",
                    "learner.batch_groups=4",
                    "learner.group_size=8",
                    "learner.cpus=1",
                    "sampler_cpus=0.9",
                    "sampling.max_tokens=4",
                    "sampling.episodes=160",
                    "queue_groups=16",
                    f"steps={args.steps}",
                    f"seed={args.seed}",
                    "checkpoint_every=0",
                    f"out={root / f'{name}-{sigma}'}",
                    *extra,
                ],
            )
            run(cfg)
            lines = [ln for ln in read(Path(cfg.out) / "metrics.jsonl") if "loss" in ln]
            runs[name] = (lines, summary(lines))
        target = min(s["tokens_trained"] - lines[0]["tokens_trained"] for lines, s in runs.values())
        base = time_to(runs["sync"][0], target)
        for name, (lines, s) in runs.items():
            t = time_to(lines, target)
            rows.append(
                {
                    "sigma": sigma,
                    "schedule": name,
                    "tokens": target,
                    "seconds": round(t, 2),
                    "speedup_vs_sync": round(base / t, 2),
                    "learner_idle": round(learner_idle(lines), 3),
                    "max_token_staleness": max(int(k) for k in s["staleness_tokens"]),
                }
            )
            r = rows[-1]
            print(
                f"sigma {sigma:4.2f}  {name:5s}  {r['seconds']:7.2f}s to {target} tokens  "
                f"x{r['speedup_vs_sync']:.2f} vs sync  learner idle {r['learner_idle']:.0%}  "
                f"max staleness {r['max_token_staleness']}",
                flush=True,
            )
    ray.shutdown()
    print(json.dumps({"benchmark": "rl_async", "median_s": args.median, "rows": rows}))


if __name__ == "__main__":
    main()
