"""The state sentence: an activation's every local, read without the sentences before."""

from pathlib import Path

import pytest

from opencwm.trace.frame import Frame
from opencwm.trace.jsonl import from_jsonl
from opencwm.trace.nl import Narrator, NlFormatError, StepReader

GOLDENS = sorted((Path(__file__).parent / "golden").glob("*.jsonl"))


@pytest.mark.parametrize("path", GOLDENS, ids=lambda p: p.stem)
def test_every_line_frame_stated_in_full_reads_back_on_its_own(path):
    """Each line frame as a state sentence, to a fresh reader: its line,
    function, depth and locals (order included) come back; and the
    sentences after it, written on from there, read as the whole run's do."""
    frames = from_jsonl(path.read_text(encoding="utf-8")).frames
    for i, f in enumerate(frames):
        if f.event != "line":
            continue
        narrator, reader = Narrator(), StepReader()
        sentence = narrator.state(f)
        step = reader.read(sentence)
        assert (step.event, step.line, step.func, step.depth) == ("line", f.line, f.func, f.depth)
        assert list(step.locals.items()) == list(f.locals.items()), sentence
        for g in frames[i + 1 :]:
            if g.depth < f.depth:
                break  # its callers are not stated: model/windows.py states them first
            got = reader.read(narrator.sentence(g))
            assert (got.event, got.line, got.func, got.depth, got.locals, got.arg) == (
                g.event,
                g.line,
                g.func,
                g.depth,
                g.locals,
                g.arg,
            )


def test_state_sentences_read_as_english_and_replace_the_state():
    narrator, reader = Narrator(), StepReader()
    f = Frame("line", 7, "", "f", 2, {"x": "1", "my list": "[1, 2]", "s": "'a`b'"})
    sentence = narrator.state(f)
    assert sentence == (
        "Line 7, at depth 2 in `f`: the state is `x = 1`, `my list` = `[1, 2]` and ``s = 'a`b'``."
    )
    assert reader.read(sentence).locals == f.locals
    # a later state of the same activation replaces every local, stated or not
    empty = reader.read("Line 8, at depth 2 in `f`: the state is empty.")
    assert (empty.depth, empty.locals) == (2, {})
    with pytest.raises(NlFormatError):
        reader.read("Line 9, at depth 2 in `f`: the state is `x`.")
