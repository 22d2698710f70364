"""`Trace` <-> JSON Lines: one object per frame, with full locals.

The first line is a header (`{"format": "opencwm.trace", "version", "entry",
"input", "status", "reason", "stdout", "source"}`) so a file is a complete
trace; every following line is one frame with keys `event`, `line`,
`source`, `func`, `depth`, `locals`, `arg` (and `actor` in a trace of a
concurrent program, whose header says version 2). Unlike CWM text nothing is
diff-encoded or derived, so the round trip is exact by construction.
"""

from __future__ import annotations

import json

from opencwm.trace.frame import CONCURRENT_VERSION, FORMAT_VERSION, Frame, Trace


def to_jsonl(trace: Trace) -> str:
    rows = [trace.meta(), *(f.to_dict() for f in trace.frames)]
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def from_jsonl(text: str) -> Trace:
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    if not rows or rows[0].get("format") != "opencwm.trace":
        raise ValueError("not an opencwm trace: the first line must be its header")
    meta = rows[0]
    if meta.get("version") not in (FORMAT_VERSION, CONCURRENT_VERSION):
        raise ValueError(
            f"trace format version {meta.get('version')}; "
            f"this reads {FORMAT_VERSION} and {CONCURRENT_VERSION}"
        )
    return Trace(
        source=meta["source"],
        entry=meta["entry"],
        frames=[Frame.from_dict(r) for r in rows[1:]],
        status=meta["status"],
        reason=meta.get("reason", ""),
        input=meta.get("input", ""),
        stdout=meta.get("stdout", ""),
    )
