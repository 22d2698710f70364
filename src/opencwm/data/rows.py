"""One Parquet row per traced item, and the schema every shard shares."""

from __future__ import annotations

import json

import pyarrow as pa

from opencwm.data.items import Item, program_key
from opencwm.trace.cwm import to_cwm
from opencwm.trace.frame import Trace

KEPT = ("returned", "raised")
"""Statuses of traces that go into the train/val/test splits; anything else
(failed, truncated, nondeterministic) is kept as a `rejected` row with its reason,
except a labelled run proven not to halt (see `kept`)."""

SCHEMA = pa.schema(
    [
        ("index", pa.int64()),
        ("id", pa.string()),
        ("source", pa.string()),
        ("program", pa.string()),
        ("code", pa.string()),
        ("entry", pa.string()),
        ("input", pa.string()),
        ("stdin", pa.string()),
        ("cwm", pa.string()),
        ("frames", pa.string()),
        ("n_frames", pa.int32()),
        ("output", pa.string()),
        ("status", pa.string()),
        ("reason", pa.string()),
        ("label", pa.string()),  # labelled sources only (halting: "halts" / "loops")
    ]
)


def kept(row: dict) -> bool:
    """Whether a row goes into train/val/test: a finished trace, or the cut
    trace of a run its source labelled "loops" (the `halting` source keeps
    only runs whose non-termination it has proven: docs/halting.md)."""
    return row["status"] in KEPT or (row.get("label") == "loops" and row["status"] == "truncated")


def make_row(index: int, item: Item, trace: Trace, status: str | None = None) -> dict:
    return {
        "index": index,
        "id": item.id,
        "source": item.source,
        "program": program_key(item),
        "code": item.code,
        "entry": trace.entry or (item.entry or ""),
        "input": item.input,
        "stdin": item.stdin,
        "cwm": to_cwm(trace),
        "frames": json.dumps([f.to_dict() for f in trace.frames], ensure_ascii=False),
        "n_frames": len(trace.frames),
        "output": trace.result,
        "status": status or trace.status,
        "reason": trace.reason,
        "label": item.label,
    }


def table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=SCHEMA)
