"""Traces of concurrent programs: every frame names its actor, messages are
frames of their own, both codecs round-trip them, and a program of one
activity is traced and written exactly as before."""

import itertools
import json

from opencwm.distributed.recorder import is_concurrent
from opencwm.distributed.runtime import RUNTIME
from opencwm.trace.cwm import from_cwm, to_cwm
from opencwm.trace.frame import Frame, Trace
from opencwm.trace.jsonl import from_jsonl, to_jsonl
from opencwm.tracer.api import trace_program

ASYNC = """import asyncio

async def worker(n):
    total = 0
    for i in range(n):
        total += i
        await asyncio.sleep(0)
    return total

async def both():
    a = asyncio.create_task(worker(2), name="a")
    b = asyncio.create_task(worker(3), name="b")
    return await a + await b

def main():  # << START_OF_TRACE
    return asyncio.run(both())
"""

THREADS = """import threading

def work(out, k):
    out.append(k * 2)

def main():  # << START_OF_TRACE
    out = []
    for k in range(2):
        t = threading.Thread(target=work, args=(out, k), name=f"t{k}")
        t.start()
        t.join()
    return out
"""

PINGPONG = (
    RUNTIME
    + """

class Pinger(Node):
    def __init__(self, name, peer):
        self.name = name
        self.peer = peer
        self.got = None

    def on_start(self, src):
        self.send(self.peer, "ping", 1)

    def on_pong(self, src, x):
        self.got = x


class Ponger(Node):
    def __init__(self, name):
        self.name = name

    def on_ping(self, src, x):
        self.send(src, "pong", x + 1)


def main(seed):  # << START_OF_TRACE
    nodes = [Pinger("a", "b"), Ponger("b")]
    Net(nodes, seed).run()
    return nodes[0].got
"""
)


def round_trips(trace: Trace) -> None:
    assert from_cwm(to_cwm(trace)).frames == trace.frames
    assert from_jsonl(to_jsonl(trace)).frames == trace.frames


def test_asyncio_tasks_are_actors(sandbox):
    trace = trace_program(ASYNC, sandbox=sandbox)
    assert (trace.status, trace.result) == ("returned", "4"), trace.reason
    actors = {f.func: set() for f in trace.frames}
    for f in trace.frames:
        actors[f.func].add(f.actor)
    assert actors == {"main": {"main"}, "both": {"Task-1"}, "worker": {"a", "b"}}
    # the two workers interleave at each await
    switches = sum(a.actor != b.actor for a, b in itertools.pairwise(trace.frames))
    assert switches >= 6
    round_trips(trace)


def test_threads_are_actors_and_depth_counts_within_one(sandbox):
    trace = trace_program(THREADS, sandbox=sandbox)
    assert (trace.status, trace.result) == ("returned", "[0, 2]"), trace.reason
    work = [f for f in trace.frames if f.func == "work"]
    assert {f.actor for f in work} == {"t0", "t1"}
    assert all(f.depth == 0 for f in work)
    assert {f.actor for f in trace.frames if f.func == "main"} == {"main"}
    round_trips(trace)


def test_runtime_messages_are_send_and_recv_frames(sandbox):
    trace = trace_program(PINGPONG, input="0", sandbox=sandbox)
    assert (trace.status, trace.result) == ("returned", "2"), trace.reason
    events = [(f.event, f.actor, f.locals.get("msg")) for f in trace.frames if f.line == 0]
    assert events == [
        ("recv", "a", "('start',)"),
        ("send", "a", "('ping', 1)"),
        ("recv", "b", "('ping', 1)"),
        ("send", "b", "('pong', 2)"),
        ("recv", "a", "('pong', 2)"),
    ]
    handlers = [f for f in trace.frames if f.func.startswith("on_")]
    assert {(f.func, f.actor) for f in handlers} == {
        ("on_start", "a"),
        ("on_ping", "b"),
        ("on_pong", "a"),
    }
    # runtime code is opaque: no frame of Net or Node
    assert not {f.func for f in trace.frames} & {"run", "deliver", "__repr__", "send"}
    text = to_cwm(trace)
    assert "<|action_sep|>[b] <recv>\n" in text
    assert "<|action_sep|>[a]         self.got = x\n" in text
    round_trips(trace)


def test_concurrent_jsonl_says_version_2_and_names_actors(sandbox):
    trace = trace_program(PINGPONG, input="0", sandbox=sandbox)
    header, first = (json.loads(line) for line in to_jsonl(trace).splitlines()[:2])
    assert header["version"] == 2
    assert first["actor"] == "main"


def test_a_program_of_one_activity_is_written_as_before():
    frame = Frame("line", 2, "    return x", "f", 0, {"x": "1"})
    trace = Trace("def f(x):  # << START_OF_TRACE\n    return x\n", "f", [frame])
    assert "actor" not in frame.to_dict()
    assert json.loads(to_jsonl(trace).splitlines()[0])["version"] == 1
    assert "<|action_sep|>    return x\n" in to_cwm(trace)
    assert not is_concurrent(trace.source)


def test_which_programs_count_as_concurrent():
    assert is_concurrent(ASYNC) and is_concurrent(THREADS) and is_concurrent(PINGPONG)
    assert not is_concurrent("def f(x):\n    return 'import threading'\n")


def test_a_context_line_that_looks_like_an_actor_prefix_is_a_line(sandbox):
    source = "def f(xs):  # << START_OF_TRACE\n    [a] = xs\n    return a\n"
    trace = trace_program(source, input="[1]", sandbox=sandbox)
    assert [f.actor for f in trace.frames] == [None] * len(trace.frames)
    assert from_cwm(to_cwm(trace)).frames == trace.frames
