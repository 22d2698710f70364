"""`opencwm eval nl`: a world model's narration, parsed back and scored.

A narration is only worth something if what it states is true. So every
predicted sentence is parsed back (`trace/nl.py`'s `StepReader`) into the
facts it states, and those are scored against the recorded run with the
metrics of `eval trace` (`metrics.py`), plus the ones English carries and
CWM text does not:

- *teacher-forced*: for each frame after the call frame, the true prefix
  is given and the model writes one step. A narrating model (trained on a
  narrated corpus, `data/narrate.py`) is prompted with the true prefix's
  sentences and writes a sentence; a CWM-text model is prompted with CWM
  text, and its frame is stated in English after the true prefix (the
  sentence `to_nl` would write) and parsed back. For the CWM model this
  must score exactly what scoring its frames directly scores
  (`via_nl=False`): a test holds the two equal.
- *free-running* (narrating models): the model tells the run from the
  recorded call frame on, sentence by sentence, until the entry returns or
  raises, a sentence does not parse, or 2n + 16 frames.

Metrics: `valid` is the parse rate (a sentence of the grammar, consistent
with the state so far: a wrong `(was X)` does not parse); `event` and
`line` the step's event and line number; `value` the returned or raised
value on return/exception steps; the rest as in `eval trace` (state,
action, whole frame, changed variables' names and values). A reply that
does not parse counts wrong on every metric and is kept in the report
with its one-line error. Not scored: the stdout and the reason of the
run's end, which the narrated layout does not carry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from opencwm.data.narrate import Told, narrate_from, read_reply, window
from opencwm.eval.metrics import (
    FREE_RUNNING,
    Activations,
    Scores,
    length_bucket,
    score_rollout,
    score_step,
)
from opencwm.eval.trace_eval import BATCH_SIZE, Case, _tf_prompts, load_cases
from opencwm.trace import tokens as T
from opencwm.trace.frame import Frame
from opencwm.trace.nl import Narrator, StepReader, program_lines
from opencwm.trace.values import repr_type
from opencwm.world.backends import Backend, Sampling
from opencwm.world.rollout import Imagined, RolloutConfig, complete_batch

FORMAT_VERSION = 1
METRICS = (
    "valid",
    "event",
    "line",
    "action",
    "state",
    "frame",
    "changed_precision",
    "changed_recall",
    "changed_f1",
    "changed_accuracy",
    "value",
)
"""Teacher-forced metrics, in the order reports show them."""
LABELS = {
    "valid": "parsed (sentence of the grammar)",
    "event": "event",
    "line": "line number",
    "action": "action (event + line text)",
    "state": "state exact match",
    "frame": "whole frame",
    "changed_precision": "changed vars: precision (names)",
    "changed_recall": "changed vars: recall (names)",
    "changed_f1": "changed vars: F1 (names)",
    "changed_accuracy": "changed vars: value accuracy",
    "value": "return/raise value",
    "finished": "returned or raised",
    "output": "output accuracy",
    "trace": "full-trace exact match",
    "steps_to_first_error": "steps to first error (mean)",
}


@dataclass(frozen=True)
class NlEvalConfig:
    data: Path
    split: str = "test"
    limit: int | None = None
    sampling: Sampling = field(default_factory=Sampling)
    narrating: bool = False
    """The model writes sentences (trained on a narrated corpus), not CWM text."""
    free_running: bool = True
    """Narrating models only: also score whole narrated runs."""
    via_nl: bool = True
    """CWM-text models: score their frames as stated in English and parsed
    back (False: the frames themselves; the two must agree)."""
    model: str = ""
    batch_size: int = BATCH_SIZE


def score_facts(
    scores: Scores, true: Frame, pred: Frame | None, activations: Activations, **groups
) -> bool:
    """`score_step` and the facts English adds; returns whether the frame was right."""
    parsed = groups.pop("parsed")
    right = score_step(scores, true, pred, activations, valid=parsed, **groups)
    scores.add("event", pred is not None and pred.event == true.event, **groups)
    scores.add("line", pred is not None and pred.line == true.line, **groups)
    if true.event in ("return", "exception"):
        hit = pred is not None and pred.event == true.event and pred.arg == true.arg
        kind = "exception" if true.event == "exception" else repr_type(true.arg or "")
        scores.add("value", hit, type=kind, **groups)
    return right


def _prompts(case: Case, backend: Backend, sampling: Sampling, narrating: bool) -> list[str]:
    if not narrating:
        return list(_tf_prompts(case, backend, sampling))
    narrator = Narrator()
    sentences = [narrator.sentence(f) for f in case.trace.frames[:-1]]
    context = case.trace.source
    frames = case.trace.frames
    return [
        window(context, sentences[:i], backend, sampling, frames[:i])
        for i in range(1, len(sentences) + 1)
    ]


def _predicted(
    reply: str, i: int, case: Case, c: NlEvalConfig, state: tuple
) -> tuple[Frame | None, bool, str]:
    """(the frame the reply states, whether it parsed, the error) at step `i`."""
    narrator, reader, lines, world = state
    if reply == T.END_OF_TEXT:
        return None, True, ""
    if c.narrating:
        told = read_reply(reply, reader.copy(), lines)
        return told.frame, told.frame is not None, told.error
    world.frames, world.ended = case.trace.frames[:i], False
    step = world.accept(reply)
    if step.error or step.frame is None or not c.via_nl:
        return step.frame, not step.error, step.error
    told = read_reply(narrator.copy().sentence(step.frame) + T.FRAME_SEP, reader.copy(), lines)
    return told.frame, told.frame is not None, told.error


def _score_case(
    case: Case, replies: list[str], backend: Backend, c: NlEvalConfig, scores: Scores
) -> dict:
    frames = case.trace.frames
    narrator, reader = Narrator(), StepReader()
    reader.read(narrator.sentence(frames[0]))
    state = (
        narrator,
        reader,
        program_lines(case.trace.source),
        Imagined(case.trace.source, backend),
    )
    activations = Activations(frames[:1])
    groups = {"source": case.source, "length": length_bucket(len(frames))}
    right, parsed, errors = 0, 0, []
    for i, reply in enumerate(replies, start=1):
        pred, ok, error = _predicted(reply, i, case, c, state)
        right += score_facts(scores, frames[i], pred, activations, parsed=ok, **groups)
        parsed += ok
        if error:
            errors.append({"step": i, "error": error, "reply": reply})
        activations.add(frames[i])
        reader.read(narrator.sentence(frames[i]))
    return {"steps": len(replies), "right": right, "parsed": parsed, "errors": errors}


def _free_run(case: Case, backend: Backend, c: NlEvalConfig, scores: Scores) -> dict:
    real = case.trace
    config = RolloutConfig(max_frames=2 * len(real.frames) + 16, sampling=c.sampling)
    told_trace, _, told = narrate_from(real.source, real.frames[0], backend, config, real.input)
    groups = {"source": case.source, "length": length_bucket(len(real.frames))}
    valid = [t.frame is not None or t.reply == T.END_OF_TEXT for t in told]
    figures = score_rollout(scores, real, told_trace, valid, **groups)
    bad: list[Told] = [t for t in told if t.error]
    return {
        "status": told_trace.status,
        "frames": len(told_trace.frames),
        "result": told_trace.result,
        **figures,
        "errors": [{"error": t.error, "reply": t.reply} for t in bad],
    }


def evaluate_nl(
    c: NlEvalConfig, backend: Backend, on_case: Callable[[dict], None] | None = None
) -> dict:
    """Score the model's narration on the split; returns the report (JSON-ready)."""
    cases = load_cases(c.data, c.split, c.limit)
    tf, fr = Scores(), Scores()
    if c.narrating:  # the constraints of `constrain.py` are rules of CWM text
        c = replace(c, sampling=replace(c.sampling, constrain=False))
    sampling = c.sampling
    start = time.monotonic()
    per_trace = []
    for case in cases:
        prompts = _prompts(case, backend, sampling, c.narrating)
        replies: list[str] = []
        for k in range(0, len(prompts), c.batch_size):
            chunk = prompts[k : k + c.batch_size]
            replies += (
                complete_batch(backend, chunk, sampling)
                if c.batch_size > 1
                else [backend.complete(p, sampling) for p in chunk]
            )
        row = {"id": case.id, "source": case.source, "frames": len(case.trace.frames)}
        row["teacher_forced"] = _score_case(case, replies, backend, c, tf)
        if c.narrating and c.free_running:
            row["free_running"] = _free_run(case, backend, c, fr)
        per_trace.append(row)
        if on_case:
            on_case(row)
    return {
        "format": "opencwm.eval.nl",
        "version": FORMAT_VERSION,
        "model": c.model,
        "narrating": c.narrating,
        "via_nl": c.via_nl,
        "data": str(c.data),
        "split": c.split,
        "traces": len(cases),
        "steps": int(tf.count("valid")),
        "seconds": round(time.monotonic() - start, 2),
        "sampling": asdict(sampling),
        "teacher_forced": tf.summary(METRICS),
        "free_running": fr.summary(FREE_RUNNING) if c.narrating and c.free_running else {},
        "per_trace": per_trace,
    }


# -- rendering ---------------------------------------------------------------------
def nl_tables(report: dict) -> list:
    """The overall table (by source) and one by trace length."""
    from rich.table import Table

    from opencwm.eval.report import fmt, model_name

    how = "narrating" if report["narrating"] else "CWM text stated in English"
    title = f"{model_name(report)} ({how}) on {Path(report['data']).name} [{report['split']}]: "
    title += f"{report['traces']} traces, {report['steps']} teacher-forced steps"
    overall, by_length = Table(title=title), Table(title="by trace length (frames)")
    sources = sorted({t["source"] for t in report["per_trace"]})
    for col in ("mode", "metric", "all", *sources):
        overall.add_column(col, justify="left" if col in ("mode", "metric") else "right")
    for mode, name in (("teacher_forced", "teacher-forced"), ("free_running", "free-running")):
        for metric, cell in report.get(mode, {}).items():
            by = cell.get("by_source", {})
            overall.add_row(
                name,
                LABELS.get(metric, metric),
                fmt(metric, cell["all"]),
                *(fmt(metric, by.get(s)) for s in sources),
            )
    columns = ("valid", "line", "state", "changed_f1", "value")
    by_length.add_column("length")
    for metric in columns:
        by_length.add_column(f"TF {LABELS[metric]}", justify="right")
    tf = report["teacher_forced"]
    for key in tf["valid"].get("by_length", {}):
        cells = [tf[m].get("by_length", {}).get(key) for m in columns]
        by_length.add_row(
            key,
            *(f"{fmt(m, x)} ({x['n']})" if x else "-" for m, x in zip(columns, cells, strict=True)),
        )
    return [overall, by_length]


def plot_nl(report: dict, path: Path) -> None:
    """One bar per teacher-forced metric: what the narration gets right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from opencwm.eval.report import model_name

    tf = report["teacher_forced"]
    names = [m for m in METRICS if tf.get(m, {}).get("all", {}).get("value") is not None]
    values = [tf[m]["all"]["value"] for m in names]
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=100)
    bars = ax.barh(range(len(names)), values, color="#4C72B0")
    ax.bar_label(bars, [f"{v:.1%}" for v in values], padding=3, fontsize=8)
    ax.set_yticks(range(len(names)), [LABELS[m] for m in names], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.12)
    ax.set_xlabel(f"teacher-forced, {report['steps']} steps of {report['traces']} traces")
    how = "narrating" if report["narrating"] else "CWM text stated in English"
    ax.set_title(f"{model_name(report)} ({how}) on {Path(report['data']).name} [{report['split']}]")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
