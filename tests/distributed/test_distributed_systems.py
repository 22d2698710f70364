"""Generated systems: labels are what the runs give, bugs show, and every
run (and a whole `distributed:` build) is reproducible byte for byte."""

import ast
import random

import pytest

from opencwm.data.pipeline import BuildConfig, build
from opencwm.data.sources import expected_count, items_from
from opencwm.data.work import WorkConfig
from opencwm.distributed.corpus import distributed_items, parse_id
from opencwm.distributed.systems import KINDS, generate, outcome
from opencwm.trace.jsonl import to_jsonl
from opencwm.tracer.api import TraceConfig, trace_program

ALWAYS = {  # (kind, bug) -> the only outcome its runs can have
    ("reqresp", "none"): "ok",
    ("reqresp", "lost"): "deadlock",
    ("retry", "none"): "ok",
    ("retry", "no-retry"): "deadlock",
    ("gossip", "none"): "ok",
    ("gossip", "lost"): "deadlock",
    ("counter", "none"): "ok",
    ("counter", "lost"): "inconsistent",
    ("two-phase", "none"): "ok",
}


def systems(n=120):
    return [generate(random.Random(i)) for i in range(n)]


def test_programs_are_plain_python_of_two_to_five_nodes():
    for s in systems():
        tree = ast.parse(s.code)
        imports = [
            a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names
        ]
        assert imports == ["random"]
        assert 2 <= s.nodes <= 5, (s.kind, s.nodes)


def test_bugs_end_the_way_they_must():
    seen = set()
    for s in systems():
        end, _ = outcome(s.code, s.seed)
        if (s.kind, s.bug) in ALWAYS:
            assert end == ALWAYS[s.kind, s.bug], (s.kind, s.bug, s.seed)
        seen.add((s.kind, s.bug))
    assert {k for k, _ in seen} == set(KINDS)


def test_wrong_quorums_can_break_the_invariant():
    ends = {}
    for i in range(200):
        s = generate(random.Random(i), "election" if i % 2 else "two-phase")
        if s.bug == "quorum":
            ends.setdefault(s.kind, set()).add(outcome(s.code, s.seed)[0])
    assert "inconsistent" in ends["election"] and "inconsistent" in ends["two-phase"]


def test_items_are_labelled_unique_and_drawn_from_the_seed():
    items = list(items_from("distributed:12", seed=3))
    assert expected_count("distributed:12") == 12
    assert [i.to_dict() for i in items] == [i.to_dict() for i in distributed_items(12, 3)]
    assert [i.id for i in items] != [i.id for i in distributed_items(12, 4)]
    assert len({(i.code, i.input) for i in items}) == 12
    assert {parse_id(i.id)[0] for i in items} == set(KINDS)
    assert all(i.label in ("ok", "deadlock", "inconsistent") for i in items)
    assert parse_id("distributed-00003-two-phase-no-retry-n4") == ("two-phase", "no-retry", 4)


def test_a_traced_run_ends_as_labelled_and_repeats_byte_for_byte(sandbox):
    config = TraceConfig(timeout_s=10)
    for item in list(distributed_items(6, seed=1)):
        a = trace_program(item.code, item.entry, item.input, config=config, sandbox=sandbox)
        b = trace_program(item.code, item.entry, item.input, config=config, sandbox=sandbox)
        assert a.status == "returned", (item.id, a.reason)
        assert a.result.startswith(f"('{item.label}', ["), (item.id, a.result[:40])
        assert to_jsonl(a) == to_jsonl(b), item.id
        assert all(f.actor is not None for f in a.frames)


@pytest.mark.slow
def test_building_twice_gives_identical_shards(tmp_path):
    work = WorkConfig(TraceConfig(timeout_s=10, max_frames=2000), check_determinism=True)
    for name, workers in (("a", 1), ("b", 2)):
        build(BuildConfig(source="distributed:20", out=tmp_path / name, work=work, workers=workers))
    shards = [
        {p.name: p.read_bytes() for p in sorted((tmp_path / n).glob("*.parquet"))} for n in "ab"
    ]
    assert shards[0] == shards[1] and shards[0]
