"""`opencwm eval halt`: the three predictors side by side on labelled runs.

Cases come from a corpus built with `--source halting:N` (its `label`
column) or from a JSON Lines file, one run a line:

    {"code": "def f(n): ...", "entry": "f", "input": "3", "label": "halts"}

with optional "id" and "pattern" (docs/halting.md). Budgeted execution
gets, for each case, the wall time the world model spent on it ("equal
wall time"). Its "unknown" counts as "loops" for accuracy (the usual
timeout convention) and as p = 0.5 for AUROC. The world model's
calibration is fitted on the corpus's *train* split, never on the cases
scored.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from opencwm.halt.predictors import (
    ExecBudget,
    HaltError,
    ImagineBudget,
    Verdict,
    constant,
    execute,
    imagine,
)

if TYPE_CHECKING:
    from opencwm.halt.calibrate import Calibration
    from opencwm.world.backends import Backend

REPORT_FORMAT = "opencwm.eval.halt"
REPORT_VERSION = 1
PREDICTORS = ("world", "execute", "constant")
MIN_EXEC_S = 0.05
"""Least wall time budgeted execution gets (a sandbox run costs ~3 ms)."""


@dataclass(frozen=True)
class Case:
    id: str
    code: str
    entry: str | None
    input: str
    label: str
    pattern: str = ""


def load_cases(data: Path, split: str = "test", limit: int | None = None) -> list[Case]:
    """Labelled cases from a built corpus directory or a JSONL file; HaltError
    (one line) for anything else."""
    if data.is_dir():
        return _corpus_cases(data, split, limit)
    if not data.exists():
        raise HaltError(f"{data} does not exist")
    cases = []
    try:
        lines = data.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise HaltError(f"cannot read {data}: {exc}") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise HaltError(f"{data}:{n}: not JSON ({exc.msg})") from None
        missing = [
            k for k in ("code", "input", "label") if not isinstance(row, dict) or k not in row
        ]
        if missing:
            raise HaltError(
                f"{data}:{n}: missing {', '.join(missing)}; a line holds code, entry, input, label"
            )
        if row["label"] not in ("halts", "loops"):
            raise HaltError(f"{data}:{n}: label {row['label']!r} is not 'halts' or 'loops'")
        cases.append(
            Case(
                str(row.get("id", f"line-{n}")),
                str(row["code"]),
                row.get("entry"),
                str(row["input"]),
                row["label"],
                str(row.get("pattern", "")),
            )
        )
        if limit is not None and len(cases) >= limit:
            break
    if not cases:
        raise HaltError(f"{data} holds no cases")
    return cases


def _corpus_cases(data: Path, split: str, limit: int | None) -> list[Case]:
    from opencwm.data.pipeline import SPLITS, iter_rows

    if not (data / "manifest.json").exists():
        raise HaltError(f"{data} is not a built corpus (no manifest.json)")
    if split not in SPLITS:
        raise HaltError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    cases = []
    for row in iter_rows(data, split):
        if row.get("label") not in ("halts", "loops"):
            continue
        pattern = row["id"].split("-")[2] if row["id"].count("-") >= 3 else ""
        cases.append(
            Case(row["id"], row["code"], row["entry"], row["input"], row["label"], pattern)
        )
        if limit is not None and len(cases) >= limit:
            break
    if not cases:
        raise HaltError(
            f"{data} has no labelled rows in its {split} split (build it with --source halting:N)"
        )
    return cases


@dataclass
class HaltEvalConfig:
    data: str
    split: str = "test"
    model: str = ""
    imagine: ImagineBudget = field(default_factory=ImagineBudget)
    exec_floor_s: float = MIN_EXEC_S
    exec_max_frames: int = 20_000


def fit_calibration(
    cases: list[Case],
    backend: Backend,
    budget: ImagineBudget,
    fitted_on: str,
    model: str = "",
    on_case: Callable[[Verdict], None] | None = None,
) -> Calibration:
    """Roll out every case (train split) and fit the logistic calibration."""
    from opencwm.halt.calibrate import fit

    feats, labels = [], []
    for case in cases:
        try:
            v = imagine(case.code, case.entry, case.input, backend, budget)
        except HaltError:
            continue
        feats.append(v.features)
        labels.append(case.label)
        if on_case:
            on_case(v)
    if len(set(labels)) < 2:
        raise HaltError(f"calibration needs both labels; {fitted_on} gave {sorted(set(labels))}")
    return fit(feats, labels, fitted_on, model)


def evaluate(
    cases: list[Case],
    backend: Backend,
    config: HaltEvalConfig,
    calibration: Calibration | None = None,
    on_case: Callable[[dict], None] | None = None,
) -> dict:
    """Every predictor on every case; the report (JSON-ready)."""
    items = []
    start = time.perf_counter()
    for case in cases:
        row: dict = {"id": case.id, "pattern": case.pattern, "label": case.label}
        try:
            wm = imagine(case.code, case.entry, case.input, backend, config.imagine, calibration)
            budget = ExecBudget(max(wm.seconds, config.exec_floor_s), config.exec_max_frames)
            ex = execute(case.code, case.entry, case.input, budget)
        except HaltError as exc:
            row["error"] = str(exc)
            items.append(row)
            if on_case:
                on_case(row)
            continue
        for v in (wm, ex, constant(case.code, case.entry, case.input)):
            row[v.predictor] = v.to_dict()
        items.append(row)
        if on_case:
            on_case(row)
    scored = [r for r in items if "error" not in r]
    report = {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "config": {**asdict(config)},
        "calibration": None if calibration is None else asdict(calibration),
        "n": len(scored),
        "errors": len(items) - len(scored),
        "seconds": round(time.perf_counter() - start, 2),
        "predictors": {p: scores(scored, p) for p in PREDICTORS},
        "by_pattern": _by_pattern(scored),
        "items": items,
    }
    return report


def _pred(row: dict, predictor: str) -> tuple[str, float]:
    v = row[predictor]
    return ("loops" if v["label"] == "unknown" else v["label"]), v["p_halts"]


def scores(rows: list[dict], predictor: str) -> dict:
    """Accuracy, balanced accuracy, AUROC and the confusion matrix of one
    predictor ("unknown" counted as loops; its p = 0.5)."""
    confusion = {t: {"halts": 0, "loops": 0, "unknown": 0} for t in ("halts", "loops")}
    truth, probs, right = [], [], 0
    for r in rows:
        label, p = _pred(r, predictor)
        confusion[r["label"]][r[predictor]["label"]] += 1
        right += label == r["label"]
        truth.append(r["label"] == "halts")
        probs.append(p)
    recalls = []
    for t in ("halts", "loops"):
        total = sum(confusion[t].values())
        hit = confusion[t][t] + (confusion[t]["unknown"] if t == "loops" else 0)
        if total:
            recalls.append(hit / total)
    return {
        "n": len(rows),
        "accuracy": right / len(rows) if rows else None,
        "balanced_accuracy": sum(recalls) / len(recalls) if recalls else None,
        "auroc": auroc(truth, probs),
        "confusion": confusion,
        "mean_seconds": sum(r[predictor]["seconds"] for r in rows) / len(rows) if rows else 0.0,
    }


def auroc(positive: list[bool], scores_: list[float]) -> float | None:
    """Probability that a random halting case scores above a random looping
    one (ties count half); None without both kinds."""
    pos = [s for t, s in zip(positive, scores_, strict=True) if t]
    neg = [s for t, s in zip(positive, scores_, strict=True) if not t]
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def _by_pattern(rows: list[dict]) -> dict:
    out: dict[str, dict] = {}
    for pattern in sorted({r["pattern"] for r in rows}):
        group = [r for r in rows if r["pattern"] == pattern]
        out[pattern or "-"] = {
            p: {"n": len(group), "accuracy": scores(group, p)["accuracy"]} for p in PREDICTORS
        }
    return out


def table(report: dict):  # -> rich.table.Table
    """The predictors as rows: the figures and the confusion matrix."""
    from rich.table import Table

    t = Table(title=f"halting: {report['n']} runs ({report['config']['data']})")
    for col in (
        "predictor",
        "accuracy",
        "balanced acc.",
        "AUROC",
        "halts→h/l/?",
        "loops→h/l/?",
        "s/run",
    ):
        t.add_column(col, justify="right" if col != "predictor" else "left")
    names = {
        "world": "world model",
        "execute": "budgeted execution",
        "constant": "constant (halts)",
    }
    for p in PREDICTORS:
        s = report["predictors"][p]
        c = s["confusion"]
        t.add_row(
            names[p],
            _pct(s["accuracy"]),
            _pct(s["balanced_accuracy"]),
            "-" if s["auroc"] is None else f"{s['auroc']:.3f}",
            "/".join(str(c["halts"][k]) for k in ("halts", "loops", "unknown")),
            "/".join(str(c["loops"][k]) for k in ("halts", "loops", "unknown")),
            f"{s['mean_seconds']:.3f}",
        )
    return t


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def plot(report: dict, path: Path) -> None:
    """Balanced accuracy per predictor and the ROC curves, one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    values = [report["predictors"][p]["balanced_accuracy"] or 0.0 for p in PREDICTORS]
    left.bar(PREDICTORS, values, color=["tab:blue", "tab:green", "tab:gray"])
    left.axhline(0.5, color="black", lw=0.8, ls="--")
    left.set_ylim(0, 1)
    left.set_ylabel("balanced accuracy")
    left.set_title(f"{report['n']} runs")
    rows = [r for r in report["items"] if "error" not in r]
    for p in PREDICTORS:
        xs, ys = roc_curve([r["label"] == "halts" for r in rows], [r[p]["p_halts"] for r in rows])
        right.plot(xs, ys, label=f"{p} (AUROC {report['predictors'][p]['auroc'] or 0:.2f})")
    right.plot([0, 1], [0, 1], color="black", lw=0.8, ls="--")
    right.set_xlabel("false halts rate")
    right.set_ylabel("true halts rate")
    right.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def roc_curve(positive: list[bool], scores_: list[float]) -> tuple[list[float], list[float]]:
    npos = sum(positive) or 1
    nneg = (len(positive) - sum(positive)) or 1
    xs, ys = [0.0], [0.0]
    for threshold in sorted(set(scores_), reverse=True):
        tp = sum(1 for t, s in zip(positive, scores_, strict=True) if t and s >= threshold)
        fp = sum(1 for t, s in zip(positive, scores_, strict=True) if not t and s >= threshold)
        xs.append(fp / nneg)
        ys.append(tp / npos)
    xs.append(1.0)
    ys.append(1.0)
    return xs, ys
