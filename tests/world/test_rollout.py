"""The rollout against scripted model output: perfect, forced, windowed,
and every kind of garbage, which must become an invalid step, never an
exception."""

from __future__ import annotations

import random

import pytest
from sample_programs import NESTED, RAISES, SRC

from opencwm.trace import tokens as T
from opencwm.trace.cwm import frame_text, prompt_text
from opencwm.tracer.api import trace_program
from opencwm.world.backends import Sampling
from opencwm.world.fake import ScriptedBackend, perfect_backend, replay_replies
from opencwm.world.rollout import Imagined, RolloutConfig, rollout


@pytest.mark.parametrize(
    ("source", "entry", "input", "status"),
    [
        (SRC, "total", "3", "returned"),
        (NESTED, "squares", "[2, 3]", "returned"),
        (RAISES, "ratio", "0", "raised"),
    ],
)
def test_a_perfect_model_reproduces_the_real_trace(source, entry, input, status):
    real = trace_program(source, entry, input)
    assert real.status == status
    imagined, steps = rollout(source, entry, input, perfect_backend(real))
    assert (imagined.status, imagined.result) == (real.status, real.result)
    assert imagined.frames == real.frames
    assert all(s.error == "" for s in steps)


GARBAGE = {
    "empty": "",
    "prose": "I think the next line sets s to 0.",
    "no event token": 'hello {"n": "3"}<|frame_sep|>',
    "not an event token": '<|arg_sep|>"1"<|frame_sep|>',
    "only a separator": T.FRAME_SEP,
    "locals not JSON": '<|line_sep|>{"n": 3<|action_sep|>    s = 0\n<|frame_sep|>',
    "locals not strings": '<|line_sep|>{"n": 3}<|action_sep|>    s = 0\n<|frame_sep|>',
    "locals a list": '<|line_sep|>["n"]<|action_sep|>    s = 0\n<|frame_sep|>',
    "'..' out of reach": '<|line_sep|>{"zz": ".."}<|action_sep|>    s = 0\n<|frame_sep|>',
    "no action": '<|line_sep|>{"n": ".."}<|frame_sep|>',
    "source without newline": '<|line_sep|>{"n": ".."}<|action_sep|>    s = 0<|frame_sep|>',
    "return with locals": '<|return_sep|>{"s": "1"}<|action_sep|>    return s\n'
    + '<|arg_sep|>"1"<|frame_sep|>',
    "return without value": "<|return_sep|><|action_sep|>    return s\n<|frame_sep|>",
    "value not a string": "<|return_sep|><|action_sep|>    return s\n<|arg_sep|>3<|frame_sep|>",
    "line with a value": '<|line_sep|>{"n": ".."}<|action_sep|>    s = 0\n'
    + '<|arg_sep|>"1"<|frame_sep|>',
    "deep nesting": '<|line_sep|>{"n": ' + "[" * 5000 + "<|action_sep|>    s = 0\n<|frame_sep|>",
    "lone surrogate": '<|line_sep|>{"n": "\\ud800"}<|action_sep|>    s = 0\n<|frame_sep|>',
    "truncated mid-frame": '<|line_sep|>{"n": "..", "s',
    "text then end": "junk<|end_of_text|>",
}


@pytest.mark.parametrize("reply", GARBAGE.values(), ids=GARBAGE.keys())
def test_garbage_becomes_an_invalid_step_with_its_raw_text(reply):
    config = RolloutConfig(sampling=Sampling(max_tokens=10_000))  # the fake cuts nothing
    imagined, steps = rollout(SRC, "total", "3", ScriptedBackend([reply]), config)
    assert imagined.status == "truncated"
    assert imagined.reason.startswith("invalid frame from the model: ")
    assert [f.event for f in imagined.frames] == ["call"]  # the real call frame, kept
    bad = steps[-1]
    assert bad.frame is None and bad.raw == reply
    assert bad.error and "\n" not in bad.error and "\n" not in imagined.reason


def test_output_cut_by_max_tokens_is_an_invalid_step():
    real = trace_program(SRC, "total", "3")
    config = RolloutConfig(sampling=Sampling(max_tokens=12))
    imagined, steps = rollout(SRC, "total", "3", perfect_backend(real), config)
    assert imagined.status == "truncated" and len(imagined.frames) == 1
    assert steps[-1].raw == replay_replies(real)[0][:12]
    assert "does not end with <|frame_sep|>" in steps[-1].error


def test_a_frame_limit_truncates_a_valid_rollout():
    real = trace_program(SRC, "total", "3")
    imagined, _ = rollout(SRC, "total", "3", perfect_backend(real), RolloutConfig(max_frames=4))
    assert imagined.status == "truncated" and "frame limit" in imagined.reason
    assert imagined.frames == real.frames[:4]


PIECES = [
    *T.SPECIAL_TOKENS,
    '{"n": "3"}',
    '{"n": ".."',
    '"s": "0"}',
    '{"i": ".."}',
    "[[[[",
    "{",
    "}",
    '"',
    "..",
    "\\ud800",
    "\\",
    "    s += i\n",
    "    return s\n",
    "def total(n):\n",
    "\n",
    "0",
    "42",
    "'a'",
    "null",
    " ",
    "é",
]


def test_random_garbage_never_raises():
    real = trace_program(SRC, "total", "3")
    rng = random.Random(0)
    for _ in range(300):
        replies = ["".join(rng.choices(PIECES, k=rng.randint(0, 12))) for _ in range(4)]
        world = Imagined(real.source, ScriptedBackend(replies))
        world.frames.append(real.frames[0])
        for _ in range(4):
            if world.ended:
                break
            step = world.step(force=rng.choice([None, None, "line", "return", "exception"]))
            assert (step.frame is None) == bool(step.error) or step.raw.endswith(T.END_OF_TEXT)
        world.trace()  # and the partial trace always assembles


def test_forced_events_go_into_the_prompt():
    real = trace_program(SRC, "total", "0")  # call, s = 0, for, return s (line), return
    backend = ScriptedBackend(
        [
            replay_replies(real)[0],  # written with its event token: stripped, as forced
            '{"n": "..", "s": "0"}<|action_sep|>    for i in range(n):\n<|frame_sep|>',
            '<|action_sep|>    return s\n<|arg_sep|>"0"<|frame_sep|>',
        ]
    )
    world = Imagined(real.source, backend)
    world.frames.append(real.frames[0])
    assert world.step(force="line").frame == real.frames[1]
    assert world.step(force="line").frame == real.frames[2]
    step = world.step(force="return")  # step out: skip the `return s` line frame
    assert [p[-len(T.LINE_SEP) :] for p in backend.prompts[:2]] == [T.LINE_SEP] * 2
    assert backend.prompts[2].endswith(T.FRAME_SEP + T.RETURN_SEP)
    assert step.frame is not None and (step.frame.event, step.frame.arg) == ("return", "0")
    assert world.ended and world.trace().status == "returned"


def test_without_input_the_model_writes_the_call_frame():
    real = trace_program(SRC, "total", "2")
    backend = ScriptedBackend(replay_replies(real, skip_call=False))
    imagined, _ = rollout(SRC, "total", None, backend)
    assert backend.prompts[0] == prompt_text(real.source) + T.CALL_SEP
    assert imagined.frames == real.frames and imagined.status == "returned"


def test_the_window_keeps_the_source_and_the_latest_frames():
    real = trace_program(SRC, "total", "6")
    head = prompt_text(real.source)
    sampling = Sampling(max_tokens=100)
    backend = perfect_backend(real, context_tokens=len(head) + 420 + sampling.max_tokens)
    config = RolloutConfig(sampling=sampling, keep_frames=3)
    imagined, _ = rollout(SRC, "total", "6", backend, config)
    assert imagined.frames == real.frames  # cutting the prompt did not change a perfect run

    frames = real.frames
    windowed = 0
    for j, prompt in enumerate(backend.prompts):  # prompt j asks for frame j + 1
        assert prompt.startswith(head) and len(prompt) <= len(head) + 420
        if j + 1 >= len(frames):
            continue
        starts = [
            k
            for k in range(j + 1)
            if prompt
            == head
            + frame_text(frames[k], None)  # the first kept frame: full locals
            + "".join(frame_text(frames[i], frames[i - 1]) for i in range(k + 1, j + 1))
        ]
        assert starts, f"prompt {j} is not the source plus a run of recent frames"
        k = starts[0]
        if k > 0:
            windowed += 1
            assert j + 1 - k >= 3  # at least `keep_frames` frames
            assert T.UNCHANGED not in frame_text(frames[k], None)
    assert windowed >= 3
    assert any(
        T.UNCHANGED in frame_text(frames[k], frames[k - 1]) for k in range(1, len(frames))
    )  # so writing the kept frame in full is a real difference


def test_the_window_keeps_fewer_frames_when_those_do_not_fit():
    real = trace_program(SRC, "total", "6")
    head = prompt_text(real.source)
    sampling = Sampling(max_tokens=100)
    backend = perfect_backend(real, context_tokens=len(head) + 150 + sampling.max_tokens)
    config = RolloutConfig(sampling=sampling, keep_frames=24)  # 24 frames would not fit
    imagined, _ = rollout(SRC, "total", "6", backend, config)
    assert imagined.frames == real.frames
    assert all(p.startswith(head) and len(p) <= len(head) + 150 for p in backend.prompts)
