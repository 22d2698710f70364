"""A deterministic stand-in for a model: replies read from a script.

Tests, the debugger and the server's own tests use it instead of mocks
(as httpx ships `MockTransport`): it keeps the `Backend` contract exactly
(the reply ends at the first stop token; at most `max_tokens` tokens) and
records every prompt it was given, so a test can assert on what a real
model would have seen. One token is one character here, which makes window
arithmetic in tests exact. What it does not model: tokenisation (a real
backend re-tokenises prompts, so BPE boundary effects never show here).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from opencwm.trace import tokens as T
from opencwm.trace.cwm import frame_text
from opencwm.trace.frame import Trace
from opencwm.world.backends import STOPS, Sampling


class ScriptedBackend:
    """Answers `complete` with the next reply of `replies`, then `after`.

    Replies are cut as a real backend's would be: just after the first
    stop token, and at `sampling.max_tokens` characters. A reply may start
    with part of what the caller already put in the prompt (a forced event
    token); `strip_forced` removes it, so a script can be written as whole
    frames.
    """

    def __init__(
        self,
        replies: Iterable[str],
        *,
        context_tokens: int = 1_000_000,
        after: str = T.END_OF_TEXT,
        strip_forced: bool = True,
    ) -> None:
        self.replies = list(replies)
        self.context_tokens = context_tokens
        self.after = after
        self.strip_forced = strip_forced
        self.prompts: list[str] = []
        self.samplings: list[Sampling] = []

    def count_tokens(self, text: str) -> int:
        return len(text)

    def complete(self, prompt: str, sampling: Sampling) -> str:
        self.prompts.append(prompt)
        self.samplings.append(sampling)
        k = len(self.prompts) - 1
        reply = self.replies[k] if k < len(self.replies) else self.after
        if self.strip_forced:
            for tok in T.EVENT_TOKENS.values():
                if prompt.endswith(tok) and reply.startswith(tok):
                    reply = reply[len(tok) :]
        ends = [reply.find(s) + len(s) for s in STOPS if s in reply]
        if ends:
            reply = reply[: min(ends)]
        return reply[: sampling.max_tokens]


def replay_replies(trace: Trace, skip_call: bool = True) -> list[str]:
    """What a perfect model would answer for `trace`, step by step: each
    frame's text (diff-encoded against the frame before it, as the rollout's
    prompt writes it), then `<|end_of_text|>` if the entry was left.
    `skip_call`: the rollout takes the call frame from the real arguments
    when it is given an input, so the model is not asked for it."""
    replies = []
    for i, frame in enumerate(trace.frames):
        if i or not skip_call:
            replies.append(frame_text(frame, trace.frames[i - 1] if i else None))
    if trace.status in ("returned", "raised"):
        replies.append(T.END_OF_TEXT)
    return replies


def perfect_backend(trace: Trace, **kwargs: object) -> ScriptedBackend:
    """A backend that imagines `trace` exactly (see `replay_replies`)."""
    return ScriptedBackend(replay_replies(trace), **kwargs)  # type: ignore[arg-type]


def memorised_model(text: str, out: Path, max_steps: int = 400, **config: object) -> Path:
    """A real model directory (HF layout, `micro` preset) that has learnt one
    CWM text by heart: the smallest model whose greedy rollout is known, so
    tests can check real backends, servers and evaluators without training.
    `config`: `CwmConfig` fields to change (a server may need another shape,
    e.g. vLLM's CPU attention takes no 16-wide heads)."""
    import torch
    import torch.nn.functional as F
    from transformers import CwmForCausalLM
    from transformers.utils import logging as hf_logging

    from opencwm.model.presets import cwm_config
    from opencwm.model.tokenizer import train_tokenizer

    hf_logging.disable_progress_bar()
    tok = train_tokenizer([text] * 4, vocab_size=400)
    torch.manual_seed(0)
    model = CwmForCausalLM(cwm_config("micro", tok, **config))
    ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]])  # (1, T)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(max_steps):
        logits = model(input_ids=ids[:, :-1], use_cache=False).logits  # (1, T-1, V)
        loss = F.cross_entropy(logits.flatten(0, 1), ids[0, 1:])
        loss.backward()
        opt.step()
        opt.zero_grad()
        if loss.item() < 0.01:
            break
    assert loss.item() < 0.05, f"the micro model did not memorise its text: loss {loss.item()}"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out
