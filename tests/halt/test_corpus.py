"""The `halting:N` corpus: balanced, unique, deterministic, near-miss pairs,
and every label re-checked here on fresh traces with a larger budget,
without the generator's help."""

from __future__ import annotations

import dataclasses
import difflib
from collections import Counter
from pathlib import Path

import pytest

from opencwm.data.benchmarks import SourceError
from opencwm.data.items import item_key
from opencwm.data.pipeline import BuildConfig, build, iter_rows
from opencwm.data.rows import make_row
from opencwm.halt.corpus import CHECK, checked_trace, halting_items
from opencwm.halt.patterns import FAMILIES
from opencwm.halt.repeat import find_repeat
from opencwm.halt.verify import LabelError, check_label, find_drift
from opencwm.trace.frame import Trace
from opencwm.tracer.api import TraceConfig, trace_program

N = 2 * len(FAMILIES)  # one pair of each family

LONGER = TraceConfig(timeout_s=30, max_frames=3_000, repr_cap=4_000)
"""Ten times the generator's frame budget: a halting run must still halt,
a looping one must still be running, and its proof must still hold."""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("halting")
    build(
        BuildConfig(source=f"halting:{N}", out=out, workers=1, val_fraction=0.2, test_fraction=0.2)
    )
    return out


def test_the_build_keeps_every_run_with_its_label(corpus: Path):
    rows = list(iter_rows(corpus))
    assert len(rows) == N
    assert Counter(r["label"] for r in rows) == {"halts": N // 2, "loops": N // 2}
    assert not list(iter_rows(corpus, "rejected"))
    for r in rows:
        assert r["source"] == "halting"
        assert r["status"] in (("returned", "raised") if r["label"] == "halts" else ("truncated",))
    patterns = Counter(r["id"].split("-")[2] for r in rows)
    assert len(patterns) == len(FAMILIES) and set(patterns.values()) == {2}


def rows_by_index(out: Path) -> list[dict]:
    return sorted(iter_rows(out), key=lambda r: r["index"])


def test_workers_store_the_run_the_source_checked(corpus: Path, tmp_path: Path, sandbox):
    """Listing runs nothing; the workers trace under `CHECK` exactly what the
    source once traced itself before the build, with 1 worker or 2."""
    items = list(halting_items(N))
    assert all(i.trace is None and i.check == "halting" for i in items)
    rows = rows_by_index(corpus)
    for item, row in zip(items, rows, strict=True):
        trace = trace_program(item.code, item.entry, item.input, config=CHECK, sandbox=sandbox)
        assert row == make_row(row["index"], item, trace)
    two = tmp_path / "two"
    config = BuildConfig(f"halting:{N}", two, workers=2, chunk_size=4)
    build(dataclasses.replace(config, val_fraction=0.2, test_fraction=0.2))
    assert rows_by_index(two) == rows


def test_a_killed_build_checks_only_the_runs_it_had_not(tmp_path: Path):
    config = BuildConfig("halting:24", tmp_path / "c", workers=1, chunk_size=6)
    build(config)
    whole = rows_by_index(config.out)
    parts = sorted((config.out / ".build" / "parts").glob("part-*.parquet"))
    kept = {p: p.stat().st_mtime_ns for p in parts[:2]}
    for p in parts[2:]:
        p.unlink()
    (config.out / "manifest.json").unlink()
    build(config)
    assert rows_by_index(config.out) == whole
    assert {p: p.stat().st_mtime_ns for p in parts[:2]} == kept


def test_a_wrong_label_stops_the_build_naming_the_run(sandbox):
    halts = next(halting_items(1))
    with pytest.raises(SourceError, match=f"{halts.id} .*labelled loops but the run returned"):
        checked_trace(dataclasses.replace(halts, label="loops"), sandbox)


def test_labels_hold_on_fresh_longer_runs(corpus: Path, sandbox):
    for r in iter_rows(corpus):
        trace = trace_program(r["code"], r["entry"], r["input"], config=LONGER, sandbox=sandbox)
        if r["label"] == "halts":
            assert trace.status in ("returned", "raised"), (r["id"], trace.reason)
            assert find_repeat(trace.frames, trace.source) is None, r["id"]
        else:
            assert trace.status == "truncated" and len(trace.frames) > 300, (r["id"], trace.reason)
            assert check_label("loops", trace), r["id"]
        assert check_label(r["label"], trace)


def test_loops_proofs_come_from_the_trace_not_the_id(corpus: Path, sandbox):
    """Swap the labels of each pair: every check must fail."""
    for r in iter_rows(corpus):
        trace = trace_program(r["code"], r["entry"], r["input"], config=LONGER, sandbox=sandbox)
        other = "loops" if r["label"] == "halts" else "halts"
        with pytest.raises(LabelError):
            check_label(other, trace)


def test_pairs_are_near_misses():
    items = list(halting_items(N, seed=3))
    close = 0
    for h, lo in zip(items[::2], items[1::2], strict=True):
        assert (h.label, lo.label) == ("halts", "loops")
        assert h.id.split("-")[:3] == lo.id.split("-")[:3]
        a, b = h.code + "\x00" + h.input, lo.code + "\x00" + lo.input
        ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
        changed = sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in ops if tag != "equal")
        close += changed <= 2
    assert close >= len(FAMILIES) // 2, f"only {close} pairs are within two characters"


def test_seeded_deterministic_and_unique():
    a = [(i.id, i.code, i.input, i.label) for i in halting_items(60, seed=1)]
    b = [(i.id, i.code, i.input, i.label) for i in halting_items(60, seed=1)]
    c = [(i.id, i.code, i.input, i.label) for i in halting_items(60, seed=2)]
    assert a == b and a != c
    items = list(halting_items(200, seed=0))
    assert len({item_key(i) for i in items}) == 200
    assert Counter(i.label for i in items) == {"halts": 100, "loops": 100}
    assert [i.label for i in halting_items(5)] == ["halts", "loops", "halts", "loops", "halts"]


def test_drift_needs_the_gap_to_stay_away():
    code = "def f(n):\n    i = 0\n    while i != n:\n        i += 3\n    return i\n"

    def frames(values: list[int]) -> list:
        from opencwm.trace.frame import Frame

        return [Frame("line", 3, "", "f", 0, {"n": "10", "i": str(v)}) for v in values]

    assert find_drift(code, frames(list(range(12, 72, 3))))  # past 10 and climbing
    assert find_drift(code, frames(list(range(12, 69, 3)))) is None  # 19 visits: too few
    assert find_drift(code, frames([*range(12, 66, 3), 13, 11])) is None  # turns back
    assert find_drift(code, frames([-57 + 3 * k for k in range(20)])) is None  # approaching
    untraced = Trace("def f():\n    pass\n", "f", status="truncated")
    with pytest.raises(LabelError, match="no proof"):
        check_label("loops", untraced)
    with pytest.raises(LabelError, match="unknown label"):
        check_label("maybe", untraced)
