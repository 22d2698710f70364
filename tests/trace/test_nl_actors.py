"""Narration of concurrent programs: "Node `b`, line 12: ...", messages
sent and received, each actor's own stack; read back to the same facts,
byte for byte."""

from __future__ import annotations

import random

import pytest
from sample_programs import ASYNC

from opencwm.distributed.systems import generate
from opencwm.trace.cwm import to_cwm
from opencwm.trace.frame import Frame, Trace
from opencwm.trace.nl import Narrator, StepReader, from_nl, narration_of, parse_nl, to_nl
from opencwm.tracer.api import trace_program


@pytest.fixture(scope="module")
def runs(sandbox):
    out = []
    for kind in ("counter", "two-phase", "election"):
        system = generate(random.Random(5), kind)
        out.append(trace_program(system.code, "main", system.input, sandbox=sandbox))
    out.append(trace_program(ASYNC, "main", "", sandbox=sandbox))
    assert all(t.status == "returned" and t.concurrent for t in out), [t.reason for t in out]
    return out


def test_a_concurrent_run_reads_back_to_the_same_facts_and_bytes(runs):
    for trace in runs:
        text = to_nl(trace)
        assert parse_nl(text) == narration_of(trace)
        back = from_nl(text, trace.source)
        assert back.frames == trace.frames
        assert to_cwm(back) == to_cwm(trace)


def test_sentences_name_the_node_and_narrate_messages(runs):
    lines = to_nl(runs[0]).splitlines()
    sends = [s for s in lines if " sends " in s]
    assert sends and all(s.startswith("Node `") and " to node `" in s for s in sends)
    assert any(s.startswith("Node `r2` receives `(") and " from node `" in s for s in lines)
    assert any(s.startswith("Node `main`, line ") for s in lines)
    assert not any(s.startswith("Line ") for s in lines)  # every step names its actor
    tasks = to_nl(runs[-1])
    assert "Node `Task-2`, line 5: " in tasks or "Node `Task-3`, line 5: " in tasks


def test_a_step_at_a_time_and_full_states_keep_each_actors_stack(runs):
    trace = runs[1]
    narrator, reader = Narrator(), StepReader()
    for i, frame in enumerate(trace.frames):
        trial = narrator.copy()
        sentence = trial.state(frame) if frame.event == "line" and i % 3 == 0 else None
        if sentence is not None:  # a full state reads alone, as a line step
            step = reader.copy().read(sentence)
            assert (step.actor, step.line, step.locals) == (frame.actor, frame.line, frame.locals)
        step = reader.read(narrator.sentence(frame))
        assert step == narration_of(Trace("", "", [frame])).steps[0], i


def test_nodes_that_are_not_strings_and_odd_actor_names_round_trip():
    msg = "('vote', {'op': 'x'})"
    frames = [
        Frame("send", 0, "", "", 0, {"src": "3", "dst": "(1, 'b')", "msg": msg}, None, "3"),
        Frame("recv", 0, "", "", 0, {"src": "3", "dst": "'a b'", "msg": msg}, None, "a b"),
        Frame("send", 0, "", "", 0, {"src": "'x'", "dst": "''", "msg": "()"}, None, "y`z"),
        Frame("recv", 0, "", "", 0, {"src": "'x'", "dst": "'q'", "msg": "()"}, None, "T-1 (f)"),
    ]
    trace = Trace("", "main", frames, "truncated", "cut")
    text = to_nl(trace)
    # the actor is the node's str(); a repr that is not that string's is written out
    assert "Node `3` sends `('vote', {'op': 'x'})` to `(1, 'b')` (from `3`)." in text
    assert "Node `a b` receives `('vote', {'op': 'x'})` from `3`." in text
    assert parse_nl(text) == narration_of(trace)
    assert from_nl(text, "").frames == frames
