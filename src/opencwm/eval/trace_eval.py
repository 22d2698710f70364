"""`opencwm eval trace`: a world model measured against recorded executions.

For each finished trace of a corpus split, two runs of the model:

- *teacher-forced*: for every frame after the call frame, the prompt is
  the true prefix and the model writes one frame (greedy by default).
  Measures what the model knows about one step, free of its earlier
  mistakes. Each step is decoded on its own, not read off one forward
  over the true trace: that would score tokens, not the frame greedy
  decoding (and its constraints) writes. The steps go to the backend
  `batch_size` at a time; a local backend encodes a trace's shared prefix
  once and reads it once per decoding step for all of them (`world/batch.py`).
- *free-running*: the model continues from the recorded call frame until
  it returns, raises, writes an invalid frame or runs `2n + 16` frames (n
  = the real length; past that the trace is wrong anyway). Measures what
  a user of `predict` gets. The call frame comes from the corpus, so
  nothing runs in the sandbox and recorded traces (`pytest:` sources)
  are evaluated like any other. `batch_size` rollouts run in lockstep.

Metrics are defined in `metrics.py`; the report is one JSON document
(format `opencwm.eval.trace`), rendered by `report.py`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path

from opencwm.eval import corpus_rows
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
from opencwm.world.rollout import (
    Imagined,
    RolloutConfig,
    Step,
    complete_batch,
    run_batch,
    run_on,
)

FORMAT_VERSION = 1
BATCH_SIZE = 16
"""Measured with `benchmarks/eval_speed.py` (docs/benchmarks.md): 16 and 32
ran about as fast; 32 took more memory."""


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
    batch_size: int = BATCH_SIZE
    """Frames asked of the backend at once (teacher-forced steps; rollouts
    in lockstep). 1: one at a time, the sequential path."""


def load_cases(data: Path, split: str, limit: int | None = None) -> list[Case]:
    """Finished traces of one split, in corpus order."""
    rows = corpus_rows(data, split, lambda row: row["status"] in FINISHED, limit, "finished traces")
    cases = []
    for row in rows:
        context, _ = split_context(row["cwm"])
        frames = [Frame.from_dict(d) for d in json.loads(row["frames"])]
        trace = Trace(context, row["entry"], frames, row["status"], input=row["input"])
        cases.append(Case(row["id"], row["source"], trace))
    return cases


def _tf_prompts(case: Case, backend: Backend, sampling: Sampling) -> Iterator[str]:
    """Each teacher-forced step's prompt: the true prefix, windowed as a
    rollout would window it (the window only depends on the frames)."""
    frames = case.trace.frames
    world = Imagined(case.trace.source, backend, RolloutConfig(sampling=sampling))
    for i in range(1, len(frames)):
        world.frames, world.ended = frames[:i], False
        yield world.next_prompt()


def _score_tf(case: Case, replies: list[str], backend: Backend, scores: Scores) -> dict:
    """Score the model's reply to every teacher-forced step of a trace."""
    frames = case.trace.frames
    world = Imagined(case.trace.source, backend)
    activations = Activations(frames[:1])
    groups = {"source": case.source, "length": length_bucket(len(frames))}
    right, valid, first_wrong = 0, 0, None
    for i, reply in enumerate(replies, start=1):
        world.frames, world.ended = frames[:i], False
        step = world.accept(reply)
        ok = score_step(scores, frames[i], step.frame, activations, valid=not step.error, **groups)
        activations.add(frames[i])
        right += ok
        valid += not step.error
        if not ok and first_wrong is None:
            first_wrong = i
    return {"steps": len(frames) - 1, "right": right, "valid": valid, "first_wrong": first_wrong}


def teacher_forced(
    cases: list[Case],
    backend: Backend,
    sampling: Sampling,
    scores: Scores,
    batch_size: int = 1,
    on_case: Callable[[int, dict], None] | None = None,
) -> list[dict]:
    """Predict every frame after the call frame from the true prefix. The
    steps of consecutive traces go to the backend `batch_size` at a time
    (each prompt is complete: the batch changes the speed, not the answer);
    each trace is scored, in order, as soon as all its replies are in."""
    work = ((k, p) for k, case in enumerate(cases) for p in _tf_prompts(case, backend, sampling))
    replies: list[list[str]] = [[] for _ in cases]
    results: list[dict] = []

    def score_ready() -> None:
        while len(results) < len(cases):
            case = cases[len(results)]
            if len(replies[len(results)]) < len(case.trace.frames) - 1:
                return
            results.append(_score_tf(case, replies[len(results)], backend, scores))
            replies[len(results) - 1] = []
            if on_case:
                on_case(len(results) - 1, results[-1])

    while chunk := list(islice(work, batch_size)):
        prompts = [p for _, p in chunk]
        if batch_size > 1:
            answers = complete_batch(backend, prompts, sampling)
        else:
            answers = [backend.complete(p, sampling) for p in prompts]
        for (k, _), answer in zip(chunk, answers, strict=True):
            replies[k].append(answer)
        score_ready()
    score_ready()
    return results


def free_running(
    cases: list[Case],
    backend: Backend,
    config: TraceEvalConfig,
    scores: Scores,
    on_case: Callable[[int, dict], None] | None = None,
) -> list[dict]:
    """Roll out from each recorded call frame and compare whole traces;
    `config.batch_size` rollouts at a time in lockstep (`run_batch`), each
    scored, in corpus order, as soon as it and those before it have ended."""
    worlds = []
    for case in cases:
        real = case.trace
        cap = 2 * len(real.frames) + 16
        if config.max_frames:
            cap = min(cap, config.max_frames)
        world = Imagined(
            real.source, backend, RolloutConfig(max_frames=cap, sampling=config.sampling)
        )
        world.frames.append(real.frames[0])
        worlds.append(world)
    runs: dict[int, tuple[Trace, list[Step]]] = {}
    results: list[dict] = []

    def score_ready(i: int, run: tuple[Trace, list[Step]]) -> None:
        runs[i] = run
        while len(results) in runs:
            case = cases[len(results)]
            imagined, steps = runs.pop(len(results))
            figures = score_rollout(
                scores,
                case.trace,
                imagined,
                [not s.error for s in steps],
                source=case.source,
                length=length_bucket(len(case.trace.frames)),
            )
            results.append(
                {
                    "status": imagined.status,
                    "reason": imagined.reason,
                    "frames": len(imagined.frames),
                    "result": imagined.result,
                    **figures,
                }
            )
            if on_case:
                on_case(len(results) - 1, results[-1])

    if config.batch_size > 1:
        run_batch(worlds, config.batch_size, score_ready)
    else:
        for i, world in enumerate(worlds):
            score_ready(i, run_on(world))
    return results


def evaluate(
    config: TraceEvalConfig,
    backend: Backend,
    *,
    on_start: Callable[[int], None] | None = None,
    on_case: Callable[[dict], None] | None = None,
) -> dict:
    """Run both modes over the split; returns the report (JSON-ready).
    `on_case` hears of each trace once per mode, as it is scored."""
    cases = load_cases(config.data, config.split, config.limit)
    if on_start:
        on_start(len(cases) * (config.teacher_forced + config.free_running))
    tf, fr = Scores(), Scores()
    per_trace = []
    for case in cases:
        row: dict = {"id": case.id, "source": case.source, "frames": len(case.trace.frames)}
        row["expected"] = case.trace.result
        per_trace.append(row)
    start = time.monotonic()

    def done(mode: str):
        def record(k: int, result: dict) -> None:
            per_trace[k][mode] = result
            if on_case:
                on_case(per_trace[k])

        return record

    if config.teacher_forced:
        teacher_forced(
            cases, backend, config.sampling, tf, config.batch_size, done("teacher_forced")
        )
    if config.free_running:
        free_running(cases, backend, config, fr, done("free_running"))
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
