"""Sampler throughput: a group decoded in lockstep vs one sequence at a time.

A GRPO group is `group_size` episodes on one task, so its members share
their prompt. With `sampling.lockstep` (the default) the sampler encodes
that prompt once and decodes the members as one batch: one forward pass
per token for the whole group. The baseline (`lockstep=False`, what the
sampler did before) runs one forward pass per sequence per token. On a
model as small as cwm-tiny a forward costs about the same for 1 row as for
8, so the ratio is large on a CPU; on a GPU it is larger still.

What is timed is `Engine.run_groups` (sampling, the environment calls on
their threads, grading in the sandbox) on the same groups with the same
seeds, in this process, alternating modes. The tokens differ slightly
between modes when a batched forward rounds differently; the share of
identical trajectories is printed.

Run: .venv/bin/python benchmarks/rl_sampler.py [--config configs/rl-output-halting.yaml]
     [--groups 4] [--repeats 2]
(needs the config's corpus, e.g. `opencwm data build --source halting:40000
--out data/halting40k`; `--set env.data=examples/cruxeval_sample.jsonl` runs
without one)
"""

from __future__ import annotations

import argparse
import platform
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/rl-output-halting.yaml")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--groups", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    from opencwm.rl.config import load_config
    from opencwm.rl.policy import build_model
    from opencwm.rl.sampler import Engine, Ticket
    from opencwm.rl.tasks import load_tasks, task_for

    cfg = load_config(args.config, args.overrides)
    tasks = load_tasks(cfg.env, cfg.env.split, cfg.env.limit)
    model, tok = build_model(cfg.model, cfg.seed)
    tickets = [Ticket(g, task_for(tasks, cfg.seed, g), 0) for g in range(args.groups)]
    print(
        f"{platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}; "
        f"{args.groups} groups x {cfg.learner.group_size} of {cfg.env.kind} "
        f"({cfg.env.data}), temperature {cfg.sampling.temperature}, "
        f"up to {cfg.sampling.max_tokens} tokens"
    )
    rates: dict[bool, list[float]] = {False: [], True: []}
    ids: dict[bool, list[list[int]]] = {}
    for r in range(args.repeats):
        for lockstep in (False, True):
            cfg.sampling.lockstep = lockstep
            engine = Engine(cfg, model, tok)
            t0 = time.perf_counter()
            groups = engine.run_groups(list(tickets))
            dt = time.perf_counter() - t0
            rates[lockstep].append(engine.stats["tokens"] / dt)
            ids[lockstep] = [m.ids for g in groups for m in g.members]
            name = "lockstep" if lockstep else "one at a time"
            print(f"  run {r + 1} {name:>13}: {engine.stats['tokens']} tokens in {dt:.1f} s")
    base, batched = (max(rates[m]) for m in (False, True))
    same = sum(a == b for a, b in zip(ids[False], ids[True], strict=True)) / len(ids[True])
    print(f"one sequence at a time: {base:.0f} tokens/s (best of {args.repeats})")
    print(f"lockstep groups:        {batched:.0f} tokens/s (best of {args.repeats})")
    print(f"identical trajectories: {same:.0%}")
    print(f"ratio: {batched / base:.2f}x")


if __name__ == "__main__":
    main()
