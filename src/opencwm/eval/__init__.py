"""Measuring world models against the real interpreter (`opencwm eval`).

metrics.py      every metric, defined once, and micro-averaged aggregation
trace_eval.py   teacher-forced and free-running metrics on a trace corpus
output_eval.py  CRUXEval-O pass@1 from rollouts
loss_eval.py    held-out teacher-forced loss, in training's windows
grade.py        `assert OUTPUT == PREDICTION`, as a sandbox job
report.py       tables and the accuracy-vs-length plot
"""


class EvalError(ValueError):
    """An evaluation that cannot start (no data, a malformed file); one line."""


def require_corpus(data) -> None:
    """Fail in one line, before any model loads, when `data` is no corpus."""
    from pathlib import Path

    if not (Path(data) / "manifest.json").exists():
        raise EvalError(
            f"{data} is not a built corpus (no manifest.json); see `opencwm data build`"
        )
