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
