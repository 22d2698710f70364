"""`opencwm eval trace`: a world model measured against recorded executions.

For each finished trace of a corpus split, two runs of the model:

- *teacher-forced*: for every frame after the call frame, the prompt is
  the true prefix and the model writes one frame (greedy by default). One
  `Imagined` serves the whole trace and each prompt extends the previous
  one, so a local backend keeps its KV cache. Measures what the model
  knows about one step, free of its earlier mistakes.
- *free-running*: the model continues from the recorded call frame until
  it returns, raises, writes an invalid frame or runs `2n + 16` frames (n
  = the real length; past that the trace is wrong anyway). Measures what
  a user of `predict` gets. The call frame comes from the corpus, so
  nothing runs in the sandbox and recorded traces (`pytest:` sources)
  are evaluated like any other.

Metrics are defined in `metrics.py`; the report is one JSON document
(format `opencwm.eval.trace`), rendered by `report.py`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from opencwm.eval import EvalError
from opencwm.eval.metrics import (
    FINISHED,
    FREE_RUNNING,
    TEACHER_FORCED,
    Activations,
    Scores,
    length_bucket,
    score_rollout,
    score_step,
)
from opencwm.trace.cwm import split_context
from opencwm.trace.frame import Frame, Trace
from opencwm.world.backends import Backend, Sampling
from opencwm.world.rollout import Imagined, RolloutConfig, run_on

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Case:
    """One recorded execution to compare against."""

    id: str
    source: str
    trace: Trace


@dataclass(frozen=True)
class TraceEvalConfig:
    data: Path
    split: str = "test"
    limit: int | None = None
    sampling: Sampling = field(default_factory=Sampling)
    max_frames: int | None = None
    """Hard cap on free-running frames (default: 2n + 16 per trace)."""
    teacher_forced: bool = True
    free_running: bool = True
    model: str = ""
    """What was evaluated, for the report."""


def load_cases(data: Path, split: str, limit: int | None = None) -> list[Case]:
    """Finished traces of one split, in corpus order."""
    from opencwm.data.pipeline import iter_rows

    if not (Path(data) / "manifest.json").exists():
        raise EvalError(
            f"{data} is not a built corpus (no manifest.json); see `opencwm data build`"
        )
    cases = []
    for row in iter_rows(Path(data), split):
        if row["status"] not in FINISHED:
            continue
        context, _ = split_context(row["cwm"])
        frames = [Frame.from_dict(d) for d in json.loads(row["frames"])]
        trace = Trace(context, row["entry"], frames, row["status"], input=row["input"])
        cases.append(Case(row["id"], row["source"], trace))
        if limit and len(cases) >= limit:
            break
    if not cases:
        found = sorted({p.name.split("-")[0] for p in Path(data).glob("*-of-*.parquet")})
        raise EvalError(
            f"{data} has no finished traces in split {split!r}; splits there: {', '.join(found)}"
        )
    return cases


def teacher_forced(case: Case, backend: Backend, sampling: Sampling, scores: Scores) -> dict:
    """Predict every frame after the call frame from the true prefix."""
    frames = case.trace.frames
    world = Imagined(case.trace.source, backend, RolloutConfig(sampling=sampling))
    activations = Activations(frames[:1])
    groups = {"source": case.source, "length": length_bucket(len(frames))}
    right, valid, first_wrong = 0, 0, None
    for i in range(1, len(frames)):
        world.frames, world.ended = frames[:i], False
        step = world.step()
        ok = score_step(scores, frames[i], step.frame, activations, valid=not step.error, **groups)
        activations.add(frames[i])
        right += ok
        valid += not step.error
        if not ok and first_wrong is None:
            first_wrong = i
    return {"steps": len(frames) - 1, "right": right, "valid": valid, "first_wrong": first_wrong}


def free_running(case: Case, backend: Backend, config: TraceEvalConfig, scores: Scores) -> dict:
    """Roll out from the recorded call frame and compare whole traces."""
    real = case.trace
    cap = 2 * len(real.frames) + 16
    if config.max_frames:
        cap = min(cap, config.max_frames)
    world = Imagined(real.source, backend, RolloutConfig(max_frames=cap, sampling=config.sampling))
    world.frames.append(real.frames[0])
    imagined, steps = run_on(world)
    figures = score_rollout(
        scores,
        real,
        imagined,
        [not s.error for s in steps],
        source=case.source,
        length=length_bucket(len(real.frames)),
    )
    return {
        "status": imagined.status,
        "reason": imagined.reason,
        "frames": len(imagined.frames),
        "result": imagined.result,
        **figures,
    }


def evaluate(
    config: TraceEvalConfig,
    backend: Backend,
    *,
    on_start: Callable[[int], None] | None = None,
    on_case: Callable[[dict], None] | None = None,
) -> dict:
    """Run both modes over the split; returns the report (JSON-ready)."""
    cases = load_cases(config.data, config.split, config.limit)
    if on_start:
        on_start(len(cases))
    tf, fr = Scores(), Scores()
    per_trace = []
    start = time.monotonic()
    for case in cases:
        row: dict = {"id": case.id, "source": case.source, "frames": len(case.trace.frames)}
        row["expected"] = case.trace.result
        if config.teacher_forced:
            row["teacher_forced"] = teacher_forced(case, backend, config.sampling, tf)
        if config.free_running:
            row["free_running"] = free_running(case, backend, config, fr)
        per_trace.append(row)
        if on_case:
            on_case(row)
    return {
        "format": "opencwm.eval.trace",
        "version": FORMAT_VERSION,
        "model": config.model,
        "data": str(config.data),
        "split": config.split,
        "traces": len(cases),
        "steps": int(tf.count("state")),
        "seconds": round(time.monotonic() - start, 2),
        "sampling": asdict(config.sampling),
        "teacher_forced": tf.summary(TEACHER_FORCED) if config.teacher_forced else {},
        "free_running": fr.summary(FREE_RUNNING) if config.free_running else {},
        "per_trace": per_trace,
    }
