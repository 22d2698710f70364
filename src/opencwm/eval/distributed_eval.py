"""`opencwm eval distributed`: a world model on runs of distributed systems.

For each finished run of a `distributed:` corpus split, the model is
prompted with the program and a true prefix of the trace (greedy, one
frame; unconstrained, since structural decoding steps aside on a
concurrent program by itself, `world/constrain.py` `concurrent_context`,
and every `distributed:` program is one) and scored on:

- next event: at `steps` evenly spaced positions, the frame it writes has
  the true event and actor (for a `send` / `recv`, the true message too);
- final state: given every frame but the last, it writes main's return
  frame with the true value (the outcome and every node's state);
- outcome: the outcome at the head of that value (`('deadlock', [...`)
  equals the run's label: "will this system deadlock / become inconsistent".

Prompts longer than the model's context keep the program and as many of the
last frames as fit. Reported overall and by node count, bug and protocol,
with the majority-label baseline; `plot` draws the PNG.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from opencwm.eval import corpus_rows
from opencwm.trace import tokens as T
from opencwm.trace.cwm import TraceFormatError, frame_text, parse_frame, prompt_text, split_actor
from opencwm.trace.frame import Frame
from opencwm.world.backends import Backend, Sampling

FORMAT = "opencwm.eval.distributed"
METRICS = ("next_event", "final_state", "outcome")
_OUTCOME = re.compile(r"\('(\w+)', ")


@dataclass(frozen=True)
class Case:
    id: str
    source: str  # the program, as the model sees it
    frames: list[Frame]
    label: str


@dataclass(frozen=True)
class DistributedEvalConfig:
    data: Path
    split: str = "test"
    limit: int | None = None
    steps: int = 8
    """Next-event positions scored per run."""
    max_tokens: int = 512
    model: str = ""


def load_cases(data: Path, split: str, limit: int | None = None) -> list[Case]:
    from opencwm.trace.cwm import split_context

    rows = corpus_rows(
        data,
        split,
        lambda row: row["source"] == "distributed" and row["status"] == "returned",
        limit,
        "finished distributed runs",
        "; build one with `opencwm data build --source distributed:N`",
    )
    return [
        Case(
            row["id"],
            split_context(row["cwm"])[0],
            [Frame.from_dict(d) for d in json.loads(row["frames"])],
            row["label"],
        )
        for row in rows
    ]


def prompt(backend: Backend, source: str, frames: list[Frame], room: int) -> str:
    """Program + the last frames that fit in `backend.context_tokens - room`."""
    head = prompt_text(source)
    texts = [frame_text(f, p) for p, f in zip([None, *frames], frames, strict=False)]
    budget = backend.context_tokens - room - backend.count_tokens(head)
    start, used = len(frames), 0
    while start > 0:
        cost = backend.count_tokens(texts[start - 1])
        if used + cost > budget:
            break
        used, start = used + cost, start - 1
    if start == len(frames) or start == 0:
        return head + "".join(texts[start:])
    return head + frame_text(frames[start], None) + "".join(texts[start + 1 :])


def read_frame(reply: str, source_lines: dict) -> Frame | None:
    """The first frame of a reply, or None if it is not one."""
    text = reply.split(T.FRAME_SEP)[0]
    try:
        event, raw, action, arg = parse_frame(text)
    except TraceFormatError:
        return None
    actor, action = split_actor(action, source_lines)
    if event == "line" and actor is not None and action in ("<send>", "<recv>"):
        return Frame(action[1:-1], 0, "", "", 0, dict(raw or {}), None, actor)
    try:
        return Frame(event, 0, action, "", 0, {}, arg, actor)
    except AssertionError:
        return None


def _same_event(true: Frame, got: Frame | None) -> bool:
    if got is None or (got.event, got.actor) != (true.event, true.actor):
        return False
    return true.event not in ("send", "recv") or got.locals == true.locals


def outcome_of(value: str | None) -> str | None:
    m = _OUTCOME.match(value or "")
    return m.group(1) if m else None


def evaluate(config: DistributedEvalConfig, backend: Backend, on_case=None) -> dict:
    from opencwm.distributed.corpus import parse_id
    from opencwm.trace.resolve import Resolver

    cases = load_cases(config.data, config.split, config.limit)
    sampling = Sampling(max_tokens=config.max_tokens)
    per_case = []
    for case in cases:
        lines = Resolver(case.source).by_text
        n = len(case.frames)
        picks = sorted({1 + (k * (n - 2)) // max(config.steps, 1) for k in range(config.steps)})
        right = 0
        for i in picks:
            reply = backend.complete(prompt(backend, case.source, case.frames[:i], 64), sampling)
            right += _same_event(case.frames[i], read_frame(reply, lines))
        last = case.frames[-1]
        reply = backend.complete(
            prompt(backend, case.source, case.frames[:-1], config.max_tokens), sampling
        )
        got = read_frame(reply, lines)
        value = got.arg if got is not None and got.event == "return" else None
        kind, bug, nodes = parse_id(case.id)
        per_case.append(
            {
                "id": case.id,
                "kind": kind,
                "bug": bug,
                "nodes": nodes,
                "label": case.label,
                "frames": n,
                "next_event": [right, len(picks)],
                "final_state": value == last.arg,
                "outcome": outcome_of(value) == case.label,
                "predicted_outcome": outcome_of(value),
            }
        )
        if on_case:
            on_case(per_case[-1])
    majority = Counter(c.label for c in cases).most_common(1)[0]
    return {
        "format": FORMAT,
        "version": 1,
        "model": config.model,
        "data": str(config.data),
        "split": config.split,
        "cases": len(cases),
        "overall": _aggregate(per_case),
        "by_nodes": _grouped(per_case, "nodes"),
        "by_bug": _grouped(per_case, "bug"),
        "by_kind": _grouped(per_case, "kind"),
        "majority_outcome": {"label": majority[0], "accuracy": majority[1] / len(cases)},
        "per_case": per_case,
    }


def _aggregate(rows: list[dict]) -> dict:
    steps = sum(r["next_event"][1] for r in rows)
    return {
        "runs": len(rows),
        "next_event": sum(r["next_event"][0] for r in rows) / max(steps, 1),
        "final_state": sum(r["final_state"] for r in rows) / max(len(rows), 1),
        "outcome": sum(r["outcome"] for r in rows) / max(len(rows), 1),
    }


def _grouped(rows: list[dict], key: str) -> dict:
    groups: dict = defaultdict(list)
    for r in rows:
        groups[str(r[key])].append(r)
    return {k: _aggregate(v) for k, v in sorted(groups.items())}


def table_rows(report: dict) -> list[tuple[str, str, dict]]:
    """(grouping, group, figures) for every line of the printed table."""
    out = [("all", "", report["overall"])]
    for key in ("by_nodes", "by_bug", "by_kind"):
        out += [(key[3:], k, v) for k, v in report[key].items()]
    return out


def plot(report: dict, path: Path) -> None:
    """Bars of the three accuracies by node count and by bug."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=100, sharey=True)
    for ax, key, title in ((axes[0], "by_nodes", "nodes"), (axes[1], "by_bug", "injected bug")):
        groups = list(report[key])
        for j, metric in enumerate(METRICS):
            xs = [i + (j - 1) * 0.27 for i in range(len(groups))]
            ax.bar(xs, [report[key][g][metric] for g in groups], 0.27, label=metric)
        ax.set_xticks(range(len(groups)), [f"{g}\n({report[key][g]['runs']})" for g in groups])
        ax.set_xlabel(f"{title} (runs)")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3, axis="y")
    base = report["majority_outcome"]
    axes[0].axhline(base["accuracy"], color="gray", ls="--", lw=1, label="majority outcome")
    axes[0].set_ylabel("accuracy")
    axes[0].legend(fontsize=8)
    name = Path(report["model"]).name or "model"
    fig.suptitle(f"{name} on {Path(report['data']).name} [{report['split']}]")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
