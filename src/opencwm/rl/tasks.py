"""Which tasks a run draws from, and the environment each episode runs in.

Tasks come from a corpus directory (Parquet rows; `split` picks the split,
rows of status `returned` with at most `max_frames` frames and short code;
the row's recorded execution comes along, so nothing is traced again)
or a CRUXEval-format JSONL file (split by line: every fifth line is held
out as `test`, the rest is `train`). The order a run sees them in is a
pure function of (seed, group index), so a resumed or replayed run sees
the same tasks in the same order.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from opencwm.rl.config import EnvConfig
from opencwm.rl.env import Env

EXEC_KINDS = ("output", "trace", "imagined-output", "imagined-trace")
KINDS = (*EXEC_KINDS, "swe", "latency", "hang", "crash")


def load_tasks(cfg: EnvConfig, split: str, limit: int | None = None) -> list[dict]:
    """The task list for `split` (see the module docstring)."""
    if cfg.kind in ("latency", "hang", "crash"):
        from opencwm.rl.fakes import fake_tasks

        return fake_tasks(limit or 64)
    if cfg.kind == "swe":
        from opencwm.swe.task import load_tasks as load_swe

        return [t.to_dict() for t in load_swe(Path(cfg.swe_tasks))][:limit]
    if cfg.kind not in EXEC_KINDS:
        raise ValueError(f"unknown environment {cfg.kind!r}; known: {', '.join(KINDS)}")
    path = Path(cfg.data)
    rows: list[dict] = []
    if path.is_dir():
        from opencwm.data.pipeline import iter_rows

        for row in iter_rows(path, split):
            if (
                row["status"] == "returned"
                and row["n_frames"] <= cfg.max_frames
                and len(row["code"]) <= cfg.max_code_chars
            ):
                rows.append(_task(row))
                if limit and len(rows) >= limit:
                    break
    elif path.is_file():
        lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
        for n, line in enumerate(lines):
            if (n % 5 == 4) == (split == "test"):
                rows.append(_task(json.loads(line), default_id=f"line{n + 1}"))
        rows = rows[:limit] if limit else rows
    else:
        raise ValueError(f"{path} is neither a corpus directory nor a JSONL file")
    if not rows:
        raise ValueError(f"{path} has no usable {split} tasks (max_frames={cfg.max_frames})")
    return rows


def _task(row: dict, default_id: str = "") -> dict:
    """A task; corpus rows also carry their recorded execution (`context`,
    `frames`), so episodes need no sandbox run to start or to be scored."""
    task = {
        "id": str(row.get("id", default_id)),
        "code": row["code"],
        "entry": row.get("entry") or "f",
        "input": row["input"],
        "output": row.get("output"),
    }
    if row.get("cwm") and row.get("frames"):
        from opencwm.trace.cwm import split_context

        task["context"] = split_context(row["cwm"])[0]
        task["frames"] = row["frames"]
    return task


def task_for(tasks: list[dict], seed: int, group: int) -> dict:
    """The task of group `group`: epochs of seeded permutations."""
    epoch, k = divmod(group, len(tasks))
    order = list(range(len(tasks)))
    random.Random(f"{seed}/{epoch}").shuffle(order)
    return tasks[order[k]]


def make_env(cfg: EnvConfig, seed: int = 0, world_backend: object | None = None) -> Env:
    """A fresh environment for one episode. `world_backend`: the imagined
    environments' world model (a `Backend`), made once per sampler."""
    if cfg.kind in ("output", "trace"):
        from opencwm.rl.exec_envs import OutputEnv, TraceEnv

        return OutputEnv(answer=cfg.answer) if cfg.kind == "output" else TraceEnv()
    if cfg.kind.startswith("imagined-"):
        from opencwm.rl.exec_envs import ImaginedEnv, ImaginedExecutor, OutputEnv, TraceEnv

        assert world_backend is not None, "imagined environments need a world model backend"
        ex = ImaginedExecutor(world_backend)  # type: ignore[arg-type]
        if cfg.kind == "imagined-output":
            real = OutputEnv(answer=cfg.answer) if cfg.measure_real else None
            return ImaginedEnv(OutputEnv(ex, answer=cfg.answer), real)
        return ImaginedEnv(TraceEnv(ex), TraceEnv() if cfg.measure_real else None)
    if cfg.kind == "swe":
        from opencwm.rl.swe_env import SweRlEnv

        return SweRlEnv(cfg.swe_repos)
    from opencwm.rl.fakes import CrashingEnv, HangingEnv, LatencyEnv

    if cfg.kind == "latency":
        return LatencyEnv(cfg.latency, cfg.turns, seed, cfg.prompt_chars)
    if cfg.kind == "hang":
        return HangingEnv(hang_s=max(60.0, 4 * cfg.timeout_s), turns=cfg.turns, seed=seed)
    if cfg.kind == "crash":
        return CrashingEnv(turns=cfg.turns, seed=seed)
    raise ValueError(f"unknown environment {cfg.kind!r}; known: {', '.join(KINDS)}")
