"""The `contests:N` source: seeded whole scripts over stdin test cases."""

import random

from typer.testing import CliRunner

from opencwm.cli import app
from opencwm.data.contests import contest_items, draw
from opencwm.data.contests.families import FAMILIES
from opencwm.data.items import program_key
from opencwm.data.pipeline import iter_rows
from opencwm.data.sources import expected_count, items_from
from opencwm.tracer.api import TraceConfig, trace_program

LIMIT = TraceConfig(timeout_s=10, max_frames=2_000)  # `data build`'s default limit


def test_items_are_deterministic_unique_scripts_over_stdin():
    a = list(items_from("contests:24", seed=3))
    assert a == list(items_from("contests:24", seed=3))
    assert a != list(items_from("contests:24", seed=4))
    assert expected_count("contests:24") == len(a) == 24
    assert len({program_key(i) for i in a}) == 24  # a drawn constant per script
    assert {i.id.split("-", 2)[2] for i in a} == set(FAMILIES)  # families in turn
    for item in a:
        assert item.entry == "<module>" and item.input == "" and item.source == "contests"
        cases = int(item.stdin.splitlines()[0])
        assert 1 <= cases <= 6 and "range(T)" in item.code


def test_every_family_runs_to_its_end_on_every_shape():
    """Each family, inline and in `solve()`, with `input` and with
    `sys.stdin.readline`, traces to `returned` and prints one line a case."""
    rng = random.Random(0)
    for name in FAMILIES:
        shapes = set()
        for _ in range(40):
            code, stdin = draw(name, rng)
            shape = ("def solve" in code, "readline" in code)
            if shape in shapes:
                continue
            shapes.add(shape)
            t = trace_program(code, "<module>", "", stdin=stdin, config=TraceConfig(timeout_s=10))
            assert t.status == "returned", (name, t.reason, code)
            assert len(t.stdout.splitlines()) == int(stdin.splitlines()[0])
            if shape[0]:
                assert max(f.depth for f in t.frames) >= 1
        assert len(shapes) == 4, name


def test_a_build_traces_them_whole_with_lengths_spread(tmp_path):
    out = tmp_path / "c"
    args = ["data", "build", "--source", "contests:20", "--out", str(out), "--workers", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = [r for s in ("train", "val", "test") for r in iter_rows(out, s)]
    assert len(rows) == 20 and all(r["status"] == "returned" for r in rows)
    assert all(r["stdin"] and r["entry"] == "<module>" for r in rows)
    lengths = sorted(r["n_frames"] for r in rows)
    assert lengths[0] < 120 and lengths[-1] > 400, lengths


def test_lengths_stay_under_the_build_frame_limit_mostly():
    lengths = []
    for item in contest_items(40, seed=1):
        t = trace_program(item.code, item.entry, stdin=item.stdin, config=LIMIT)
        lengths.append(len(t.frames) if t.status == "returned" else None)
    finished = [n for n in lengths if n is not None]
    assert len(finished) >= 36
    assert min(finished) < 80 and max(finished) > 600
