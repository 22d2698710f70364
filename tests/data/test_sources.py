"""Each source on small real inputs."""

from pathlib import Path

import pytest

from opencwm.data.benchmarks import SourceError
from opencwm.data.sources import items_from
from opencwm.tracer.api import trace_program

SCRIPTS = Path(__file__).parents[2] / "examples" / "scripts"


def test_humaneval_covers_the_shipped_problems_with_their_test_inputs():
    items = list(items_from("humaneval"))
    problems = {i.id.rsplit("/", 1)[0] for i in items}
    assert len(problems) >= 160 and len(items) > 1000
    first = next(i for i in items if i.id.startswith("HumanEval/0/"))
    t = trace_program(first.code, first.entry, first.input)
    assert t.status == "returned" and t.result in ("True", "False")


def test_scripts_folder_runs_each_program_on_its_stdin():
    items = list(items_from(f"scripts:{SCRIPTS}"))
    assert len(items) >= 5 and all(i.stdin for i in items)
    two_sum = next(i for i in items if i.id == "two_sum")
    t = trace_program(two_sum.code, two_sum.entry, stdin=two_sum.stdin)
    assert t.status == "returned" and t.stdout == "1 2\n"


def test_jsonl_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"code": "def f(): pass"}\n')
    with pytest.raises(SourceError, match=r"bad.jsonl:1: expected a JSON object"):
        list(items_from(f"jsonl:{bad}"))
    with pytest.raises(SourceError, match="cannot read"):
        list(items_from(f"jsonl:{tmp_path / 'none.jsonl'}"))


@pytest.mark.parametrize(
    "spec,msg",
    [
        ("synth:3", "unknown source 'synth'; known: synthetic"),
        ("synthetic:x", "whole number"),
        ("jsonl", "needs FILE"),
    ],
)
def test_bad_specs(spec, msg):
    with pytest.raises(SourceError, match=msg):
        list(items_from(spec))


def test_synthetic_items_are_listed_as_they_are_generated(monkeypatch):
    """A 240,000-item listing takes minutes: the build's bar must move from
    the first item, so the source may not generate the whole list first."""
    import opencwm.data.synthetic as synthetic

    real = synthetic.stream

    def one_then_fail(seed: int = 0, *args, **kwargs):
        yield next(real(seed))
        raise AssertionError("the source drew a second item before the first was used")

    monkeypatch.setattr(synthetic, "stream", one_then_fail)
    first = next(items_from("synthetic:1000", seed=3))
    assert first.id == next(real(3)).id
