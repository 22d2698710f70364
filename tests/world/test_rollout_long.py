"""The rollout on a long contest-shaped script: its prompt never outgrows the
model, and a window that drops old frames keeps the callers' state (the
training windows' policy, `model/windows.py`)."""

from __future__ import annotations

from sample_programs import CONTEST, CONTEST_STDIN

from opencwm.model.windows import live_callers, window_frames
from opencwm.trace import tokens as T
from opencwm.trace.cwm import frame_text, prompt_text
from opencwm.tracer.api import trace_program
from opencwm.world.backends import Sampling
from opencwm.world.fake import ScriptedBackend, perfect_backend
from opencwm.world.rollout import Imagined, RolloutConfig, rollout

SCRIPT, STDIN = CONTEST, CONTEST_STDIN


def test_a_long_rollout_fits_the_model_and_keeps_the_state():
    real = trace_program(SCRIPT, "<module>", "", stdin=STDIN)
    frames = real.frames
    head = prompt_text(real.source)
    sampling = Sampling(max_tokens=300)  # the fake cuts replies there: a frame's length
    context = len(head) + 900 + sampling.max_tokens  # a character a token (the fake)
    backend = perfect_backend(real, context_tokens=context)
    config = RolloutConfig(sampling=sampling, keep_frames=4, max_frames=1_000)
    imagined, _ = rollout(SCRIPT, "<module>", "", backend, config)
    assert imagined.frames == frames  # cutting the prompt did not change a perfect run

    with_state = 0
    for j, prompt in enumerate(backend.prompts[: len(frames) - 1]):  # asks for frame j + 1
        assert backend.count_tokens(prompt) + sampling.max_tokens <= context
        starts = [
            k
            for k in range(j + 1)
            if prompt
            == head + "".join(frame_text(f, p) for f, p in window_frames(frames[: j + 1], k, j + 1))
        ]
        assert starts, f"prompt {j} is not the source, the state and recent frames"
        k = starts[0]
        callers = live_callers(frames, k) if k else []
        with_state += bool(callers)
        for f in callers:  # each live caller's state, in full, before the recent frames
            assert frame_text(f, None) in prompt
    assert with_state > 20


def test_when_even_the_state_does_not_fit_the_outermost_caller_goes_first():
    real = trace_program(SCRIPT, "<module>", "", stdin=STDIN)
    frames = real.frames
    i = next(
        k for k in range(40, len(frames)) if frames[k].event == "call" and frames[k].depth == 2
    )
    module, solve = live_callers(frames, i + 1)  # the window will start at frame i + 1
    room = len(frame_text(solve, None)) + len(frame_text(frames[i + 1], None)) + 5
    head = prompt_text(real.source)
    sampling = Sampling(max_tokens=300)
    budget = (len(head) + room) * 4 // 3 + 2  # the rollout cuts to 3/4 of its budget
    world = Imagined(
        real.source,
        ScriptedBackend([], context_tokens=budget + sampling.max_tokens),
        RolloutConfig(sampling=sampling),
    )
    world.frames = frames[: i + 2]
    prompt = world.next_prompt()
    assert prompt.startswith(head) and len(prompt) <= budget
    assert frame_text(module, None) not in prompt  # dropped: outermost
    assert prompt == head + frame_text(solve, None) + frame_text(frames[i + 1], None)
    assert T.UNCHANGED not in prompt
