"""Narration speed: `to_nl` / `parse_nl` (and `from_nl`) against `to_cwm` /
`from_cwm` on the same real traces, in one process.

Traces: the first `--programs` programs of the `synthetic:` source (seed 0),
traced in the sandbox once before timing; only the finished ones are kept.
Each codec then writes and reads every trace; repetitions are interleaved
and each figure is the median. A frame is one sentence of a narration
(plus a heading and an ending per trace, not counted), so frames/s is
sentences/s.

Reported: frames/s of writing (`to_nl`, `to_cwm`) and reading (`parse_nl`,
the facts; `from_nl`, the trace with its source lines; `from_cwm`), and
`nl_time_over_cwm`: the narration's time over CWM text's for the same
frames (above 1: English is slower), writing `to_nl` / `to_cwm`, parsing
`parse_nl` / `from_cwm` and reading `from_nl` / `from_cwm`. Every
narration is checked to read back to its trace first.

Run: .venv/bin/python benchmarks/nl_speed.py [--programs N] [--reps N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from opencwm.data.sources import items_from
from opencwm.trace.cwm import from_cwm, to_cwm
from opencwm.trace.jsonl import to_jsonl
from opencwm.trace.nl import from_nl, parse_nl, to_nl
from opencwm.tracer.api import trace_program


def real_traces(n: int) -> list:
    traces = [trace_program(it.code, it.entry, it.input) for it in items_from(f"synthetic:{n}")]
    return [t for t in traces if t.status in ("returned", "raised") and t.frames]


def timed(fn, inputs: list) -> float:
    t = time.perf_counter()
    for x in inputs:
        fn(x)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--programs", type=int, default=100)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()

    traces = real_traces(args.programs)
    frames = sum(len(t.frames) for t in traces)
    nl = [to_nl(t) for t in traces]
    cwm = [to_cwm(t) for t in traces]
    for t, text in zip(traces, nl, strict=True):  # what is timed is a true round trip
        assert to_jsonl(from_nl(text, t.source)) == to_jsonl(t), t.entry
    sources = [(text, t.source) for text, t in zip(nl, traces, strict=True)]

    cases = {
        "to_nl": (to_nl, traces),
        "parse_nl": (parse_nl, nl),
        "from_nl": (lambda p: from_nl(*p), sources),
        "to_cwm": (to_cwm, traces),
        "from_cwm": (from_cwm, cwm),
    }
    runs: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(args.reps):
        for name, (fn, inputs) in cases.items():
            runs[name].append(timed(fn, inputs))
    rate = {k: frames / statistics.median(v) for k, v in runs.items()}
    ratio = {
        "write": rate["to_cwm"] / rate["to_nl"],
        "parse": rate["from_cwm"] / rate["parse_nl"],
        "read": rate["from_cwm"] / rate["from_nl"],
    }

    print(f"{len(traces)} synthetic traces, {frames:,} frames (sentences), median of {args.reps}")
    print(f"{'codec':<10} {'frames/s':>12}")
    for name, r in rate.items():
        print(f"{name:<10} {r:>12,.0f}")
    print(
        f"NL time over CWM: write {ratio['write']:.2f}x, parse {ratio['parse']:.2f}x, "
        f"read {ratio['read']:.2f}x"
    )
    print(
        json.dumps(
            {
                "traces": len(traces),
                "frames": frames,
                "frames_per_s": {k: round(v) for k, v in rate.items()},
                "nl_time_over_cwm": {k: round(v, 2) for k, v in ratio.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
