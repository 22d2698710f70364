"""Batched decoding (`world/batch.py`) writes what one-at-a-time decoding writes.

Rows of a batch share one padded cache, so their arithmetic is not bit for
bit that of a lone sequence: where an under-trained model's two best
tokens are nearly tied, the last rounding bit could pick either. So the
exact comparisons are made where the micro model's margins are wide, on
the prompts of the trace it memorised; the other programs' prompts ride
in the same batches, at other lengths, as the disturbance that padding,
masks and shared prefixes must keep out of those rows. The constraints
(action line in the trie, keys names of the context) are compared as
masks: every row must see exactly the allowed tokens its prompt sees alone.
"""

from __future__ import annotations

import pytest
from micro_cwm import ENTRY, MEMORISED, SRC

from opencwm.trace.cwm import frame_text, prompt_text
from opencwm.tracer.api import trace_program
from opencwm.world import backends
from opencwm.world.backends import LocalBackend, Sampling
from opencwm.world.batch import _common
from opencwm.world.rollout import (
    Imagined,
    RolloutConfig,
    complete_batch,
    real_call_frame,
    run_batch,
    run_on,
)

THIRD = "def g(a):\n    b = a + 1\n    return b * 2\n"
OTHER = "def f(xs):\n    out = []\n    for x in xs:\n        out.append(x * 2)\n    return out\n"


def prefixes(source: str, entry: str, input: str) -> list[str]:
    """Every teacher-forced prompt of a real trace: the true prefix."""
    real = trace_program(source, entry, input)
    head = prompt_text(real.source)
    texts = [frame_text(f, real.frames[i - 1] if i else None) for i, f in enumerate(real.frames)]
    return [head + "".join(texts[:i]) for i in range(1, len(texts))]


@pytest.fixture
def masks(monkeypatch: pytest.MonkeyPatch) -> dict[int, list]:
    """The allowed tokens at each step of each decoded row, keyed by the row's
    action constraint (one per row and call), in the order rows start."""
    seen: dict[int, list] = {}
    alive: list = []  # so that no row's constraint id is reused by a later one
    choose = backends.choose

    def recording(torch, logits, guide, keys, sampling, gen):
        alive.append(guide)
        allowed = guide.allowed() if guide else None
        if allowed is None and keys is not None and keys.active:
            allowed = [t for t in range(logits.numel()) if keys.accepts(t)]
        seen.setdefault(id(guide), []).append(sorted(allowed) if allowed is not None else None)
        return choose(torch, logits, guide, keys, sampling, gen)

    monkeypatch.setattr(backends, "choose", recording)
    return seen


@pytest.mark.parametrize("constrain", [True, False])
def test_a_batch_writes_what_each_prompt_writes_alone(micro_model, masks, constrain):
    memorised = prefixes(SRC, ENTRY, MEMORISED)
    others = prefixes(SRC, ENTRY, "5")[3:5] + prefixes(OTHER, "f", "[1, 2]")[:2]
    fresh = prefixes(THIRD, "g", "2")[0]  # new in the second call, beside kept rows
    prompts = memorised[:4] + others + memorised[4:] + [fresh, memorised[2]]  # a duplicate too
    s = Sampling(max_tokens=64, constrain=constrain)
    alone = LocalBackend(str(micro_model), device="cpu")
    expected = [alone.complete(p, s) for p in prompts]
    solo_masks = list(masks.values())
    masks.clear()
    batched = LocalBackend(str(micro_model), device="cpu")
    first, second = prompts[:7], prompts[7:]  # the second call extends rows the first kept
    got = batched.complete_batch(first, s) + batched.complete_batch(second, s)
    for i, p in enumerate(prompts):
        if p in memorised:
            assert got[i] == expected[i], i
    assert got[-1] == got[2]
    assert sum(p in memorised for p in prompts) >= 10
    if constrain:  # rows start in order of first appearance: the unique prompts, per call
        order = list(dict.fromkeys(first)) + list(dict.fromkeys(second))
        rows = dict(zip(order, masks.values(), strict=True))
        for i, p in enumerate(prompts[:-1]):
            if p in memorised:
                assert rows[p] == solo_masks[i], i
        assert any(m is not None for m in rows[memorised[0]])  # the constraints were on


def test_rows_stop_at_max_tokens_and_come_back_in_order(micro_model):
    prompts = prefixes(SRC, ENTRY, MEMORISED)
    s = Sampling(max_tokens=3)
    b = LocalBackend(str(micro_model), device="cpu")
    got = b.complete_batch(list(reversed(prompts)), s)
    assert got == [b.complete(p, s) for p in reversed(prompts)]
    assert not any(g.endswith(backends.STOPS) for g in got)  # cut short, all of them


def test_lockstep_rollouts_match_one_by_one(micro_model, local_backend):
    """Worlds of different lengths in one lockstep batch, refilled as they
    end (width 2 of 3): the memorised rollout is the real trace, and every
    world stops where `run_on` stops it."""
    config = RolloutConfig(max_frames=12, sampling=Sampling(max_tokens=64))

    def worlds(backend) -> list[Imagined]:
        out = []
        for input in ("7", MEMORISED, "2"):
            call = real_call_frame(SRC, ENTRY, input)
            w = Imagined(call.source, backend, config)
            w.frames.append(call.frames[0])
            out.append(w)
        return out

    batched = LocalBackend(str(micro_model), device="cpu")
    ended: list[int] = []
    got = run_batch(worlds(batched), width=2, on_done=lambda i, _: ended.append(i))
    alone = [run_on(w) for w in worlds(local_backend)]
    trace, steps = got[1]
    assert (trace.status, trace.frames) == (alone[1][0].status, alone[1][0].frames)
    assert [s.raw for s in steps] == [s.raw for s in alone[1][1]]
    assert trace.frames == trace_program(SRC, ENTRY, MEMORISED).frames
    assert sorted(ended) == [0, 1, 2]
    for t, _ in got:
        assert len(t.frames) <= config.max_frames
        assert t.status == "returned" or t.reason  # ended, or says why not


def test_a_window_too_short_for_a_batch_falls_back_to_one_at_a_time(micro_model, tmp_path):
    from transformers import CwmForCausalLM

    narrow = tmp_path / "narrow"
    CwmForCausalLM.from_pretrained(micro_model, sliding_window=24).save_pretrained(narrow)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (narrow / name).write_bytes((micro_model / name).read_bytes())
    b = LocalBackend(str(narrow), device="cpu")
    prompts = prefixes(SRC, ENTRY, MEMORISED)[:3]
    s = Sampling(max_tokens=8)
    assert b.complete_batch(prompts, s) == [b.complete(p, s) for p in prompts]
    assert b._batch.rows == []  # nothing was decoded side by side


def test_backends_without_a_batch_answer_in_order():
    class Echo:
        context_tokens = 10**6

        def __init__(self) -> None:
            self.asked: list[str] = []

        def count_tokens(self, text: str) -> int:
            return len(text)

        def complete(self, prompt: str, sampling: Sampling) -> str:
            self.asked.append(prompt)
            return prompt[::-1]

    echo = Echo()
    assert complete_batch(echo, ["ab", "cd", "ab"], Sampling()) == ["ba", "dc", "ba"]
    assert echo.asked == ["ab", "cd", "ab"]


def test_an_endpoint_answers_a_batch_with_concurrent_requests(server):
    from opencwm.world.backends import connect

    endpoint = connect(server)
    prompts = prefixes(SRC, ENTRY, MEMORISED)[:4]
    s = Sampling(max_tokens=48, constrain=False)
    assert complete_batch(endpoint, prompts, s) == [endpoint.complete(p, s) for p in prompts]


def test_common_prefix():
    assert _common((1, 2, 3), (1, 2, 4)) == 2
    assert _common((1, 2), (1, 2, 3)) == 2
    assert _common((5,), (1,)) == 0
    assert _common(tuple(range(100)), (*range(57), 0)) == 57
