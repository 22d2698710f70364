"""Rendering an `eval trace` report: rich tables and accuracy vs trace length.

Reads only the JSON report, so a saved report can be re-rendered (and two
reports compared) without rerunning a model.
"""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

LABELS = {
    "valid": "valid format",
    "state": "state exact match",
    "action": "action (event + line)",
    "frame": "whole frame",
    "changed_precision": "changed vars: precision (names)",
    "changed_recall": "changed vars: recall (names)",
    "changed_f1": "changed vars: F1 (names)",
    "changed_accuracy": "changed vars: value accuracy",
    "finished": "returned or raised",
    "output": "output accuracy",
    "trace": "full-trace exact match",
    "steps_to_first_error": "steps to first error (mean)",
}
MODES = (("teacher_forced", "teacher-forced"), ("free_running", "free-running"))
LENGTH_COLUMNS = (
    ("teacher_forced", "state"),
    ("teacher_forced", "action"),
    ("teacher_forced", "frame"),
    ("free_running", "output"),
    ("free_running", "trace"),
)
TYPE_COLUMNS = (
    ("teacher_forced", "changed_accuracy"),
    ("teacher_forced", "changed_recall"),
    ("free_running", "output"),
)


def model_name(report: dict) -> str:
    """A model directory's last component (the report keeps the full path)."""
    label = report.get("model") or "model"
    return Path(label).name if "/" in label and " " not in label else label


def fmt(metric: str, cell: dict | None) -> str:
    if not cell or cell["value"] is None:
        return "-"
    if metric == "steps_to_first_error":
        return f"{cell['value']:.1f}"
    return f"{cell['value']:.1%}"


def _keys(report: dict, dim: str) -> list[str]:
    """Group keys of one dimension across both modes, in the report's order."""
    seen: dict[str, None] = {}
    for mode, _ in MODES:
        for cell in report.get(mode, {}).values():
            seen.update(dict.fromkeys(cell.get(f"by_{dim}", {})))
    return list(seen)


def overall_table(report: dict) -> Table:
    sources = _keys(report, "source")
    title = f"{model_name(report)} on {Path(report['data']).name} [{report['split']}]: "
    title += f"{report['traces']} traces, {report['steps']} teacher-forced steps"
    table = Table(title=title)
    for col in ("mode", "metric", "all", *sources):
        table.add_column(col, justify="left" if col in ("mode", "metric") else "right")
    for mode, name in MODES:
        for metric, cell in report.get(mode, {}).items():
            by = cell.get("by_source", {})
            table.add_row(
                name,
                LABELS.get(metric, metric),
                fmt(metric, cell["all"]),
                *(fmt(metric, by.get(s)) for s in sources),
            )
    return table


def split_table(report: dict, dim: str, columns: tuple[tuple[str, str], ...]) -> Table:
    table = Table(title=f"by {'trace length (frames)' if dim == 'length' else 'value type'}")
    table.add_column(dim)
    for mode, metric in columns:
        short = "TF" if mode == "teacher_forced" else "FR"
        table.add_column(f"{short} {LABELS[metric]}", justify="right")
    for key in _keys(report, dim):
        cells = []
        for mode, metric in columns:
            cell = report.get(mode, {}).get(metric, {}).get(f"by_{dim}", {}).get(key)
            cells.append(f"{fmt(metric, cell)} ({cell['n']})" if cell else "-")
        table.add_row(key, *cells)
    return table


def tables(report: dict) -> list[Table]:
    return [
        overall_table(report),
        split_table(report, "length", LENGTH_COLUMNS),
        split_table(report, "type", TYPE_COLUMNS),
    ]


def plot_by_length(report: dict, path: Path) -> None:
    """Accuracy against trace length, one line per headline metric."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    buckets = _keys(report, "length")
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for mode, metric in LENGTH_COLUMNS:
        by = report.get(mode, {}).get(metric, {}).get("by_length", {})
        ys = [by[b]["value"] if b in by else None for b in buckets]
        if any(y is not None for y in ys):
            xs = [i for i, y in enumerate(ys) if y is not None]
            short = "teacher-forced" if mode == "teacher_forced" else "free-running"
            ax.plot(xs, [ys[i] for i in xs], "o-", label=f"{short}: {LABELS[metric]}")
    counts = [sum(1 for t in report["per_trace"] if _bucket_of(t["frames"]) == b) for b in buckets]
    ax.set_xticks(
        range(len(buckets)), [f"{b}\n({n})" for b, n in zip(buckets, counts, strict=True)]
    )
    ax.set_xlabel("trace length in frames (traces)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{model_name(report)} on {Path(report['data']).name} [{report['split']}]")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _bucket_of(frames: int) -> str:
    from opencwm.eval.metrics import length_bucket

    return length_bucket(frames)
