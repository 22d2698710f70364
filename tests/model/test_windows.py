"""The long-trace policy: a window from the middle of a long trace keeps the
state (every live caller's latest frame, in full) and reads back exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sample_programs import CONTEST, CONTEST_STDIN

from opencwm.model.windows import fit_callers, live_callers, row_windows, window_frames
from opencwm.trace import tokens as T
from opencwm.trace.cwm import frame_text, parse_frame, prompt_text, resolve_locals, to_cwm
from opencwm.trace.frame import Frame
from opencwm.tracer.api import trace_program

TINY = Path(__file__).parents[2] / "models" / "cwm-tiny"

SCRIPT, STDIN = CONTEST, CONTEST_STDIN


@pytest.fixture(scope="module")
def frames() -> list[Frame]:
    t = trace_program(SCRIPT, "<module>", "", stdin=STDIN)
    assert t.status == "returned" and len(t.frames) > 100
    return t.frames


def read_back(text: str) -> list[tuple]:
    """What a reader of the window's text recovers: each frame's event,
    line text, locals ("..": the frame before in the text) and value."""
    out, prev = [], None
    for piece in text.split(T.FRAME_SEP)[:-1]:
        event, raw, source, arg = parse_frame(piece)
        locals_ = resolve_locals(raw, prev) if raw is not None else {}
        prev = Frame(event, 0, source, "", 0, locals_, arg)  # `..` reads the event only
        out.append((event, source, locals_, arg))
    return out


def seen(f: Frame) -> tuple:
    return (f.event, f.source, f.locals, f.arg)


def true_callers(frames: list[Frame], i: int) -> list[Frame]:
    """Independently: for each depth below frame i's, the latest call/line
    frame at that depth, searched backwards."""
    out = []
    for d in range(frames[i].depth):
        k = max(j for j in range(i) if frames[j].depth == d and frames[j].event in ("call", "line"))
        assert all(frames[j].depth > d for j in range(k + 1, i))  # still live: never left
        out.append(frames[k])
    return out


def test_a_window_from_the_middle_reads_back_to_the_true_frames(frames):
    deep = 0
    for i in range(1, len(frames) - 8):
        pairs = window_frames(frames, i, i + 8)
        text = "".join(frame_text(f, p) for f, p in pairs)
        callers = true_callers(frames, i)
        assert live_callers(frames, i) == callers
        assert read_back(text) == [seen(f) for f in [*callers, *frames[i : i + 8]]]
        assert T.UNCHANGED not in "".join(frame_text(f, p) for f, p in pairs[: len(callers) + 1])
        deep += frames[i].depth == 2
    assert deep > 20  # windows that start inside gcd carry solve's and the module's state


def test_after_a_return_the_callers_state_is_in_the_window(frames):
    """A window that starts inside gcd and runs past its return: the frame
    after the return (solve's) equals solve's state in the window's head
    but for the names the call rebound."""
    i = next(k for k in range(40, len(frames)) if frames[k].depth == 2)
    back = next(k for k in range(i, len(frames)) if frames[k].depth == 1)
    head = window_frames(frames, i, back + 1)[:2]
    module, caller = (f for f, _ in head)
    assert (module.func, caller.func) == ("<module>", "solve")
    assert caller.source.strip() == "g = gcd(g, x)"
    after = frames[back].locals
    assert {k: v for k, v in after.items() if k != "g"} == {
        k: v for k, v in caller.locals.items() if k != "g"
    }
    assert caller.locals["xs"] == after["xs"] and "T" in module.locals


def test_callers_that_do_not_fit_drop_outermost_first(frames):
    i = next(k for k in range(40, len(frames)) if frames[k].depth == 2)
    assert [f.func for f, _ in window_frames(frames, i, i + 1, callers=1)] == ["solve", "gcd"]
    assert [f.func for f, _ in window_frames(frames, i, i + 1, callers=0)] == ["gcd"]
    assert fit_callers([5, 3, 4], 8) == 2 and fit_callers([5, 3, 4], 3) == 0
    assert window_frames(frames, 0, 3) == [
        (frames[0], None),
        (frames[1], frames[0]),
        (frames[2], frames[1]),
    ]


@pytest.fixture(scope="module")
def tokenizer():
    from opencwm.model.tokenizer import load_tokenizer

    return load_tokenizer(TINY)


def test_training_windows_cover_the_trace_once_each_with_its_state(frames, tokenizer):
    """Each window is the prompt, the callers' state, then frames i..j
    (`window_frames`, the rollout's function), and the windows' frames are
    the whole trace in order; no loss on the state."""
    trace = trace_program(SCRIPT, "<module>", "", stdin=STDIN)
    row = {"cwm": to_cwm(trace), "frames": json.dumps([f.to_dict() for f in frames])}
    enc = tokenizer.backend_tokenizer
    ids_of = lambda s: enc.encode(s, add_special_tokens=False).ids  # noqa: E731
    prompt = ids_of(prompt_text(trace.source))
    block = len(prompt) + 400
    windows = row_windows(row, tokenizer, block)
    assert len(windows) > 5
    i, with_state = 0, 0
    for w in windows:
        assert len(w.ids) <= block and w.ids[: len(prompt)] == prompt
        n = len(live_callers(frames, i)) if i else 0
        for j in range(i + 1, len(frames) + 1):
            pairs = window_frames(frames, i, j)
            pieces = [ids_of(frame_text(f, p)) for f, p in pairs]
            body = prompt + [t for p in pieces for t in p]
            if j == len(frames):
                body.append(tokenizer.convert_tokens_to_ids(T.END_OF_TEXT))
            if w.ids == body:
                given = len(prompt) + sum(map(len, pieces[:n]))
                assert w.mask == [0] * given + [1] * (len(body) - given)
                break
        else:
            pytest.fail(f"window at frame {i} is not the prompt, the state and frames {i}..")
        with_state += n > 0
        i = j
    assert i == len(frames) and with_state >= 3


# -- narrated rows: the same policy, in English ---------------------------------
DEEP = """\
def down(n, pad):
    if n == 0:
        return 0
    rest = down(n - 1, pad)
    return rest + 1


def main():  # << START_OF_TRACE
    total = 0
    for k in range(3):
        total += down(6, "x" * 60)
    return total
"""


def narrated_row(trace) -> dict:
    from opencwm.data.narrate import narrated_text

    ended = trace.status in ("returned", "raised")
    text = narrated_text(trace.source, trace.frames, ended)
    frames = json.dumps([f.to_dict() for f in trace.frames])
    return {"cwm": text, "frames": frames, "format": "nl"}


@pytest.mark.parametrize("program", ["contest", "deep recursion"])
def test_narrated_windows_are_the_rows_sentences_and_each_reads_on_its_own(program, tokenizer):
    """Every window of a narrated row decodes to the prompt, then (after
    the first) the state in English, then the row's own sentences; a fresh
    `StepReader` reads each window back to exactly the true callers and
    frames; the windows cover the trace once; no loss on the state. With
    the deep recursion the callers do not all fit, so windows also end
    where the frames return into a caller left out."""
    from opencwm.data.narrate import split_narration
    from opencwm.trace.nl import StepReader, frame_of, program_lines

    if program == "contest":
        trace = trace_program(SCRIPT, "<module>", "", stdin=STDIN)
    else:
        trace = trace_program(DEEP, "main", "")
    frames, row = trace.frames, narrated_row(trace)
    _, sentences, _ = split_narration(row["cwm"])
    prompt = prompt_text(trace.source)
    n_prompt = len(tokenizer.backend_tokenizer.encode(prompt, add_special_tokens=False).ids)
    block = n_prompt + (400 if program == "contest" else 260)
    windows = row_windows(row, tokenizer, block)
    lines = program_lines(trace.source)
    i, with_state, cut = 0, 0, 0
    for w in windows:
        assert len(w.ids) <= block
        text = tokenizer.decode(w.ids)
        assert text.startswith(prompt), text[:200]
        body = text[len(prompt) :]
        ended = body.endswith(T.END_OF_TEXT)
        told = body.removesuffix(T.END_OF_TEXT).split(T.FRAME_SEP)[:-1]
        reader = StepReader()
        read = [frame_of(reader.read(s), lines) for s in told]  # reads on its own
        given = tokenizer.decode([t for t, m in zip(w.ids, w.mask, strict=True) if not m])
        n = given[len(prompt) :].count(T.FRAME_SEP)
        callers = live_callers(frames, i) if i else []
        # what is given: the innermost callers (all, unless they do not fit), in full
        assert read[:n] == callers[len(callers) - n :]
        assert n == len(callers) or program == "deep recursion"
        j = i + len(read) - n
        assert read[n:] == frames[i:j]
        # the targets: frame i in full (a state sentence for a line), then the row's sentences
        assert told[n + 1 :] == sentences[i + 1 : j]
        if i == 0:
            assert told == sentences[:j]
        elif frames[i].event == "line":
            assert " the state is " in told[n]
        target = tokenizer.decode([t for t, m in zip(w.ids, w.mask, strict=True) if m])
        eos = T.END_OF_TEXT if ended else ""
        assert target == "".join(s + T.FRAME_SEP for s in told[n:]) + eos
        with_state += n > 0
        cut += 0 < j < len(frames) and frames[j].depth < min(f.depth for f in read)
        i = j
    assert i == len(frames) and with_state >= 3
    assert cut > 0 or program == "contest"


def test_a_narrated_row_is_never_read_as_cwm_text(tokenizer):
    trace = trace_program(SCRIPT, "<module>", "", stdin=STDIN)
    row = narrated_row(trace)
    with pytest.raises(ValueError, match="not CWM text"):
        row_windows({**row, "format": "cwm"}, tokenizer, 1024)
    with pytest.raises(ValueError, match="unknown corpus format"):
        row_windows({**row, "format": "english"}, tokenizer, 1024)
