"""Regenerate the golden traces: `.venv/bin/python tests/trace/golden/regen.py`.

Review the diff before committing: a golden changes only when the format
or the tracer's conventions deliberately change.
"""

from pathlib import Path

from opencwm.examples import example_args
from opencwm.trace.cwm import to_cwm
from opencwm.trace.jsonl import to_jsonl
from opencwm.tracer.api import trace_program

HERE = Path(__file__).parent


def golden_trace(path: Path):
    source = path.read_text(encoding="utf-8")
    args, stdin = example_args(source)
    return trace_program(source, None, args, stdin=stdin)


if __name__ == "__main__":
    for path in sorted(HERE.glob("*.py")):
        if path.name == "regen.py":
            continue
        trace = golden_trace(path)
        assert trace.status in ("returned", "raised"), (path, trace.status, trace.reason)
        path.with_suffix(".cwm").write_text(to_cwm(trace), encoding="utf-8")
        path.with_suffix(".jsonl").write_text(to_jsonl(trace), encoding="utf-8")
        print(f"{path.name}: {trace.status}, {len(trace.frames)} frames")
