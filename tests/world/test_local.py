"""`LocalBackend`: reusing the KV cache must not change what it writes."""

from __future__ import annotations

import pytest
from micro_cwm import ENTRY, MEMORISED, SRC

from opencwm.trace.cwm import frame_text, prompt_text
from opencwm.tracer.api import trace_program
from opencwm.world.backends import LocalBackend, Sampling
from opencwm.world.rollout import RolloutConfig, rollout


@pytest.mark.usefixtures("served")  # start `opencwm serve` now: it loads while this runs
def test_cache_reuse_writes_the_same_as_recomputing(micro_model, local_backend):
    fresh = LocalBackend(str(micro_model), device="cpu")
    fresh.reuse_cache = False
    config = RolloutConfig(max_frames=25, sampling=Sampling(max_tokens=96))
    for input in (MEMORISED, "4"):
        cached, cached_steps = rollout(SRC, ENTRY, input, local_backend, config)
        plain, plain_steps = rollout(SRC, ENTRY, input, fresh, config)
        assert (cached.status, cached.frames) == (plain.status, plain.frames)
        assert [s.raw for s in cached_steps] == [s.raw for s in plain_steps]

    real = trace_program(SRC, ENTRY, MEMORISED)
    head = prompt_text(real.source)
    grown = head + "".join(frame_text(f, real.frames[i - 1] if i else None)
                           for i, f in enumerate(real.frames[:4]))  # fmt: skip
    # prompts that grow, repeat, shrink to a shared prefix and change it: every cache path
    prompts = [grown, grown, head, grown[: len(grown) // 2], head + "garbage{", grown]
    s = Sampling(max_tokens=24)
    cached_replies = [local_backend.complete(p, s) for p in prompts]
    assert cached_replies == [fresh.complete(p, s) for p in prompts]


def test_a_cache_past_its_sliding_window_is_rebuilt_not_cut(micro_model, tmp_path):
    """Sliding-window layers keep only their last keys, so once a cache has
    seen a window's worth of tokens it cannot be cut back to an earlier
    prefix (transformers raises); the backend must start it over instead."""
    from transformers import CwmForCausalLM

    narrow = tmp_path / "narrow"
    CwmForCausalLM.from_pretrained(micro_model, sliding_window=24).save_pretrained(narrow)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (narrow / name).write_bytes((micro_model / name).read_bytes())
    cached = LocalBackend(str(narrow), device="cpu")
    plain = LocalBackend(str(narrow), device="cpu")
    plain.reuse_cache = False
    real = trace_program(SRC, ENTRY, MEMORISED)
    head = prompt_text(real.source)
    longer = head + frame_text(real.frames[0], None)
    assert cached.count_tokens(head) > 24
    s = Sampling(max_tokens=8)
    prompts = [longer, head, longer]  # the second cuts back a cache past its window
    assert [cached.complete(p, s) for p in prompts] == [plain.complete(p, s) for p in prompts]
