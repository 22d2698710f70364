"""The debugger on concurrent programs: a `distributed:` system stepped
through for real and as a (perfect, then broken) model imagines it; every
frame names its actor, each actor keeps its own stack, messages are drawn
`a ──msg──▶ b`, and the page gets lanes and send→recv arrows."""

from __future__ import annotations

import io
import random

import pytest
from fastapi.testclient import TestClient
from rich.console import Console

from opencwm.debug.repl import DebuggerRepl
from opencwm.debug.session import Session
from opencwm.debug.web import create_app
from opencwm.distributed.systems import generate
from opencwm.trace import tokens as T
from opencwm.trace.view import message_pairs, trace_table
from opencwm.tracer.api import trace_program
from opencwm.world.compare import imagined_table
from opencwm.world.fake import ScriptedBackend, replay_replies
from opencwm.world.rollout import Step, rollout


@pytest.fixture(scope="module")
def system():
    return generate(random.Random(1), "counter")  # 3 replicas, a lost message


@pytest.fixture(scope="module")
def real(system, sandbox):
    trace = trace_program(system.code, "main", system.input, sandbox=sandbox)
    assert trace.status == "returned" and trace.concurrent, trace.reason
    return trace


def facts(frames):
    return [(f.event, f.line, f.func, f.depth, f.actor, f.locals, f.arg) for f in frames]


def run_all(s: Session) -> None:
    while not s.ended:
        assert s.step().added == 1, s.invalid


def test_the_real_world_steps_through_every_actor(system, real, sandbox):
    s = Session(system.code, "main", system.input, sandbox=sandbox)
    run_all(s)
    assert facts(s.frames) == facts(real.frames)
    assert s.ending().startswith("returned ('inconsistent'")
    assert set(s.stacks()) == {"main", "r1", "r2", "r3"}


def test_next_over_the_run_skips_the_nodes_and_each_actor_has_its_own_stack(system, real, sandbox):
    s = Session(system.code, "main", system.input, sandbox=sandbox)
    while "Net(" not in s.current.source:
        s.next()
    assert s.current.actor == "main" and [e.func for e in s.where()] == ["main"]
    s.step()  # into the run: the first delivery
    assert s.current.event == "recv" and s.current.actor == "r1"
    assert s.values() == {"src": "'r1'", "dst": "'r1'", "msg": "('start',)"}
    s.step()
    assert [e.func for e in s.where()] == ["on_start"]  # r1's stack, not main's
    assert [e.func for e in s.stacks()["main"]] == ["main"]
    s.back(), s.back()
    moved = s.next()  # over Net(...).run(): every node's frames, back to main
    assert s.current.actor == "main" and s.current.depth == 0 and moved.added > 50
    assert s.current.line == real.frames[[f.actor for f in real.frames].index("r1") - 1].line + 1


def test_a_perfect_model_imagines_the_run_and_the_rollout_reads_its_actors(system, real):
    replies = replay_replies(real)
    trace, _ = rollout(system.code, "main", system.input, ScriptedBackend(replies))
    assert trace.status == "returned" and facts(trace.frames) == facts(real.frames)
    s = Session(system.code, "main", system.input, backend=ScriptedBackend(replies))
    run_all(s)
    assert facts(s.frames) == facts(real.frames)


def test_garbage_from_the_model_is_a_one_line_message(system, real):
    good = replay_replies(real)[:20]  # up to main's `Net(...).run()` line
    bad = [
        f'{T.LINE_SEP}{{"x": "1"}}{T.ACTION_SEP}[r1] <send>\n{T.FRAME_SEP}',  # not a message
        f"{T.LINE_SEP}{{}}{T.ACTION_SEP}[r9]     no such line\n{T.FRAME_SEP}",
        "[r1 ",
    ]
    s = Session(system.code, "main", system.input, backend=ScriptedBackend([*good, *bad]))
    for _ in good:
        s.step()
    out = io.StringIO()
    repl = DebuggerRepl(s, console=Console(file=out, width=120, color_system=None))
    for _ in bad:
        repl.onecmd("step")
        assert s.invalid is not None and "\n" not in s.invalid.error
    text = out.getvalue()
    assert "src, dst and msg" in text and "is not in the program" in text
    assert len(s.frames) == len(good) + 1  # nothing garbled was added


def test_the_repl_draws_actors_messages_and_lanes(system, real, sandbox):
    s = Session(system.code, "main", system.input, sandbox=sandbox)
    out = io.StringIO()
    repl = DebuggerRepl(s, console=Console(file=out, width=160, color_system=None))
    first_send = next(i for i, f in enumerate(real.frames) if f.event == "send")
    for _ in range(first_send):
        repl.onecmd("step")
    for command in ("where", "lanes 6", "list", "print"):
        repl.onecmd(command)
    text = out.getvalue()
    assert "r1 · send" in text and "r1 ──('add', 8)──▶ r2" in text
    assert "r1 · on_start:" in text  # a line frame names its actor
    assert "* r1" in text and "  main" in text  # where: every actor, the current one starred
    assert "┃ main" in text and "┃ r1" in text  # lanes: one column per actor
    assert "msg = ('add', 8)" in text and "***" not in text


def test_tables_draw_lanes_and_an_invalid_row_stays_in_place(real):
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(trace_table(real, limit=40))
    text = out.getvalue()
    assert all(f"┃ {a}" in text for a in ("main", "r1", "r2", "r3"))
    assert "r1 ──('add', 8)──▶ r2" in text
    bad = Step(None, "[r1] garbage", "the reply does not end with <|frame_sep|>")
    table = imagined_table(real, [bad])
    assert len(table.columns) == 8 and table.row_count == len(real.frames) + 1


def test_the_page_gets_lanes_and_an_arrow_per_delivered_message(system, real, sandbox):
    s = Session(system.code, "main", system.input, sandbox=sandbox)
    run_all(s)
    c = TestClient(create_app(s, "counter"))
    assert 'id="lanes"' in c.get("/").text
    state = c.get("/api/state").json()["state"]
    assert state["actors"] == ["main", "r1", "r2", "r3"]
    frames = state["frames"]
    assert state["arrows"] and [tuple(a) for a in state["arrows"]] == message_pairs(s.frames)
    for send, recv in state["arrows"]:
        a, b = frames[send], frames[recv]
        assert (a["event"], b["event"]) == ("send", "recv") and send < recv
        assert a["locals"] == b["locals"] and a["actor"] != b["actor"]
    sends = sum(f["event"] == "send" for f in frames)
    assert len(state["arrows"]) == sends - 1  # the network lost one message: no arrow
