"""`opencwm rl`: a thin command over `rl.run.run` (typer only at import time)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def rl(
    config: Annotated[
        Path | None, typer.Option("--config", help="YAML file with every knob (configs/rl-*.yaml).")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a knob: --set learner.lr=3e-5 (repeatable)."),
    ] = None,
    out: Annotated[str | None, typer.Option(help="Run directory (metrics, checkpoints).")] = None,
    steps: Annotated[int | None, typer.Option(help="Learner steps.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed (tasks, sampling, init).")] = None,
    max_staleness: Annotated[int | None, typer.Option(help="S; 0 is synchronous.")] = None,
    samplers: Annotated[int | None, typer.Option(help="Sampler actors.")] = None,
    ray_address: Annotated[
        str | None, typer.Option("--ray-address", help="Join an existing Ray cluster.")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the latest checkpoint.")] = False,
    eval_only: Annotated[
        bool,
        typer.Option(
            "--eval-only",
            help="Score model.path (e.g. OUT/ckpt/step-N) on the held-out split (greedy, or "
            "env.eval_samples samples per task), print the JSON and exit: no Ray, no training.",
        ),
    ] = False,
) -> None:
    """Asynchronous RL (GRPO, decoupled PPO) on Ray: samplers, a learner, in-flight updates."""
    from opencwm.rl.config import ConfigError, load_config

    overrides = list(set_ or [])
    for key, value in (
        ("out", out),
        ("steps", steps),
        ("seed", seed),
        ("max_staleness", max_staleness),
        ("samplers", samplers),
        ("ray_address", ray_address),
    ):
        if value is not None:
            overrides.append(f"{key}={value}")
    try:
        cfg = load_config(config, overrides)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if eval_only:
        from opencwm.rl.run import evaluate

        typer.echo(json.dumps(evaluate(cfg)))
        return
    from opencwm.rl.run import run

    result = run(cfg, resume=resume, log=typer.echo)
    typer.echo(
        f"metrics: {Path(cfg.out) / 'metrics.jsonl'}, plots: {Path(cfg.out) / 'metrics.png'}"
    )
    typer.echo(json.dumps(result))
