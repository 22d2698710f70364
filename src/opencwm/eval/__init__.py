"""Measuring world models against the real interpreter (`opencwm eval`).

metrics.py      every metric, defined once, and micro-averaged aggregation
trace_eval.py   teacher-forced and free-running metrics on a trace corpus
output_eval.py  CRUXEval-O pass@1 from rollouts
loss_eval.py    held-out teacher-forced loss, in training's windows
grade.py        `assert OUTPUT == PREDICTION`, as a sandbox job
distributed_eval.py  next event, final state and outcome of concurrent runs
nl_eval.py      plain-English traces parsed back and scored
report.py       tables and the accuracy-vs-length plot
"""

from collections.abc import Callable


class EvalError(ValueError):
    """An evaluation that cannot start (no data, a malformed file); one line."""


def require_corpus(data) -> None:
    """Fail in one line, before any model loads, when `data` is no corpus."""
    from pathlib import Path

    if not (Path(data) / "manifest.json").exists():
        raise EvalError(
            f"{data} is not a built corpus (no manifest.json); see `opencwm data build`"
        )


def corpus_rows(
    data, split: str, keep: Callable[[dict], bool], limit: int | None, what: str, hint: str = ""
) -> list[dict]:
    """The rows of one split that `keep` accepts, in corpus order, up to `limit`.

    Every evaluator reads its cases through here, so a missing corpus and a
    selection with nothing in it fail alike: one line, before any model loads.
    """
    from pathlib import Path

    from opencwm.data.pipeline import iter_rows

    require_corpus(data)
    rows = []
    for row in iter_rows(Path(data), split):
        if keep(row):
            rows.append(row)
            if limit and len(rows) >= limit:
                break
    if not rows:  # only now is it worth listing what the corpus does hold
        found = sorted({p.name.split("-")[0] for p in Path(data).glob("*-of-*.parquet")})
        raise EvalError(
            f"{data} has no {what} in split {split!r}; splits there: {', '.join(found)}{hint}"
        )
    return rows
