"""CWM text codec on hand-made traces, including malformed text."""

import pytest

from opencwm.trace.cwm import TraceFormatError, from_cwm, parse_frame, to_cwm
from opencwm.trace.frame import Frame, Trace

SRC = "def f(x):  # << START_OF_TRACE\n    y = x + 1\n    return y\n"


def example() -> Trace:
    return Trace(
        SRC,
        "f",
        [
            Frame("call", 1, "def f(x):", "f", 0, {"x": "1"}),
            Frame("line", 2, "    y = x + 1", "f", 0, {"x": "1"}),
            Frame("line", 3, "    return y", "f", 0, {"x": "1", "y": "2"}),
            Frame("return", 3, "    return y", "f", 0, {}, "2"),
        ],
    )


def test_matches_the_reference_illustration():
    expected = (
        "<|begin_of_text|><|trace_context_start|>" + SRC + "<|frame_sep|>"
        '<|call_sep|>{"x": "1"}<|action_sep|>def f(x):\n<|frame_sep|>'
        '<|line_sep|>{"x": ".."}<|action_sep|>    y = x + 1\n<|frame_sep|>'
        '<|line_sep|>{"x": "..", "y": "2"}<|action_sep|>    return y\n<|frame_sep|>'
        '<|return_sep|><|action_sep|>    return y\n<|arg_sep|>"2"<|frame_sep|><|end_of_text|>'
    )
    assert to_cwm(example()) == expected
    assert from_cwm(expected).frames == example().frames


def test_truncated_trace_has_no_end_token_and_decodes_as_truncated():
    t = example()
    t.frames.pop()
    t.status = "truncated"
    text = to_cwm(t)
    assert not text.endswith("<|end_of_text|>")
    back = from_cwm(text)
    assert back.status == "truncated" and back.frames == t.frames


def test_deleted_variable_disappears_from_locals():
    t = Trace(
        "def f():  # << START_OF_TRACE\n    a = 1\n    del a\n    return 0\n",
        "f",
        [
            Frame("call", 1, "def f():", "f", 0, {}),
            Frame("line", 2, "    a = 1", "f", 0, {}),
            Frame("line", 3, "    del a", "f", 0, {"a": "1"}),
            Frame("line", 4, "    return 0", "f", 0, {}),
            Frame("return", 4, "    return 0", "f", 0, {}, "0"),
        ],
    )
    assert from_cwm(to_cwm(t)).frames == t.frames


@pytest.mark.parametrize(
    "text,message",
    [
        ("def f(): pass", "must start with"),
        ("<|begin_of_text|><|trace_context_start|>x = 1\n", "not closed"),
        (
            "<|begin_of_text|><|trace_context_start|>x\n<|frame_sep|><|line_sep|>{bad}"
            "<|action_sep|>x\n<|frame_sep|>",
            "not JSON",
        ),
        (
            '<|begin_of_text|><|trace_context_start|>x\n<|frame_sep|><|line_sep|>{"a": ".."}'
            "<|action_sep|>x\n<|frame_sep|>",
            "no earlier value",
        ),
        (
            "<|begin_of_text|><|trace_context_start|>x\n<|frame_sep|><|line_sep|>{}"
            "<|action_sep|>x\n",
            "not closed",
        ),
        (
            "<|begin_of_text|><|trace_context_start|>x\n<|frame_sep|>garbage<|frame_sep|>",
            "event token",
        ),
    ],
)
def test_malformed_text_gives_a_clear_error(text, message):
    with pytest.raises(TraceFormatError, match=message):
        from_cwm(text)


@pytest.mark.parametrize(
    "chunk",
    [
        "<|return_sep|><|action_sep|>    return y\n",  # no value
        '<|line_sep|>{"x": 1}<|action_sep|>x\n',  # value not a string
        "<|return_sep|><|action_sep|>x\n<|arg_sep|>2",  # value not a JSON string
        "<|call_sep|>{}<|action_sep|>def f():",  # no newline after the source line
    ],
)
def test_parse_frame_rejects_bad_frames(chunk):
    with pytest.raises(TraceFormatError):
        parse_frame(chunk)
