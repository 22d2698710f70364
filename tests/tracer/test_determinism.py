"""A trace is the same on every run: traced in two separate host processes
(each with its own sandbox, and a different host hash seed), the frames
serialise to the same bytes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

TRACE_STDIN_PROGRAM = """
import json, sys
from opencwm.tracer.api import TraceConfig, trace_program
trace = trace_program(sys.stdin.read(), "g", config=TraceConfig(timeout_s=10))
assert trace.status == "returned", (trace.status, trace.reason)
print(json.dumps([f.to_dict() for f in trace.frames]))
"""

PROGRAM = """\
import random

class Node:
    pass

def g():
    words = {'apple', 'banana', 'cherry', 'date', 'elderberry', 'fig', 'grape'}
    index = {w: len(w) for w in words}
    nested = {frozenset({'x', 'y', 'z'}): {'k1', 'k2', 'k3'}}
    rolls = [random.randint(1, 6) for _ in range(5)]
    shuffled = sorted(words)
    random.shuffle(shuffled)
    a, b = Node(), Node()
    return words, nested, rolls, shuffled, a, b, hash('apple')
"""

IDENTITY_HASHED_SET = """\
import itertools

class Node:
    pass

def g():
    objs = list(itertools.starmap(Node, itertools.repeat((), 20000)))
    position = dict(zip(objs, range(len(objs))))
    order = list(map(position.__getitem__, set(objs)))
    return order[:40]
"""


def trace_in_processes(program: str, seeds: tuple[str, ...] = ("1", "2")) -> list[bytes]:
    """Frames JSON from concurrent host processes, one per host hash seed."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", TRACE_STDIN_PROGRAM],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        for seed in seeds
    ]
    outs = []
    for p in procs:
        out, err = p.communicate(program.encode(), timeout=60)
        assert p.returncode == 0, err.decode()
        outs.append(out)
    return outs


def test_sets_dicts_and_random_trace_identically():
    first, second = trace_in_processes(PROGRAM)
    assert b"elderberry" in first and b"0x1" in first  # the program really ran
    assert first == second


@pytest.mark.xfail(
    reason="known limitation: a set of identity-hashed objects iterates in address "
    "order, and addresses differ between runs; the corpus pipeline's determinism "
    "check rejects such traces",
    strict=True,
)
def test_set_of_identity_hashed_objects_traces_identically():
    # three processes: two may agree by chance (about 1 in 50), three hardly ever
    first, *others = trace_in_processes(IDENTITY_HASHED_SET, ("1", "2", "3"))
    assert all(other == first for other in others)
