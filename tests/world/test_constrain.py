"""Constrained decoding: the action line is always one of the context's lines."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from micro_cwm import ENTRY, MEMORISED, SRC

from opencwm.trace import tokens as T
from opencwm.trace.cwm import frame_text, prompt_text
from opencwm.tracer.api import trace_program
from opencwm.world.backends import LocalBackend, Sampling
from opencwm.world.constrain import (
    ActionConstraint,
    KeyConstraint,
    LineTrie,
    context_names,
    context_of,
)
from opencwm.world.rollout import RolloutConfig, rollout

BUNDLED = Path(__file__).resolve().parents[2] / "models" / "cwm-tiny"

OTHER = """def f(words, k):  # << START_OF_TRACE
    out = []
    for w in words:
        if len(w) > k:
            out.append(w.upper())
        else:
            out.insert(0, w.replace('a', 'b'))
    return '-'.join(out)
"""


def _encoder(tokenizer):
    tok = tokenizer.backend_tokenizer

    def encode(lines: list[str]) -> list[list[int]]:
        return [e.ids for e in tok.encode_batch(lines, add_special_tokens=False)]

    return encode


def test_training_tokens_of_every_action_walk_the_trie_to_a_leaf():
    """The constraint is only sound if a line is tokenised the same way in
    training (inside a whole frame) as in the trie (on its own)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(BUNDLED)
    trace = trace_program(OTHER, "f", "['banana', 'ax', 'kiwi'], 3")
    trie = LineTrie(trace.source, _encoder(tokenizer))
    action_sep = tokenizer.convert_tokens_to_ids(T.ACTION_SEP)
    for i, frame in enumerate(trace.frames):
        text = frame_text(frame, trace.frames[i - 1] if i else None)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        guide = ActionConstraint(trie, action_sep)
        walked = 0
        for tok in ids:
            allowed = guide.allowed()
            if allowed is not None:
                assert tok in allowed, f"frame {i}: {tokenizer.decode([tok])!r} not allowed"
                walked += 1
            guide.advance(tok)
        assert walked > 0 and guide.allowed() is None  # the whole line, then free again


def test_training_tokens_of_every_locals_object_pass_the_key_check():
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(BUNDLED)
    texts = [tokenizer.decode([i]) for i in range(len(tokenizer))]
    ids = tokenizer.convert_tokens_to_ids
    trace = trace_program(OTHER, "f", "['banana', 'ax', 'kiwi'], 3")
    keys = KeyConstraint(
        context_names(trace.source), texts, {ids(T.CALL_SEP), ids(T.LINE_SEP)}, ids(T.ACTION_SEP)
    )
    checked = 0
    for i, frame in enumerate(trace.frames):
        text = frame_text(frame, trace.frames[i - 1] if i else None)
        for tok in tokenizer(text, add_special_tokens=False)["input_ids"]:
            checked += keys.active
            assert keys.accepts(tok), f"frame {i}: {tokenizer.decode([tok])!r} refused"
            keys.advance(tok)
        assert not keys.active
    assert checked > 0


def test_a_key_must_be_a_name_of_the_context():
    texts = ["{", '"', "num", "bers", '":', ' "1"', "}", "n", ", ", "<a>", "<l>", "z", "x"]
    keys = KeyConstraint({"numbers", "x"}, texts, opens={10}, action_sep=9)
    assert keys.accepts(9) and not keys.active  # outside a locals object nothing is checked
    keys.advance(10)
    for tok in (0, 1, 2):
        assert keys.accepts(tok)
        keys.advance(tok)
    assert not keys.accepts(4)  # `num` closed: not a name
    assert not keys.accepts(9)  # the object is not closed yet
    assert not keys.accepts(11)  # `numz` is no name's beginning
    for tok in (3, 4, 5, 8, 1):
        keys.advance(tok)
    assert not keys.accepts(7)  # `numbers` is written already: no second one
    assert keys.accepts(12)
    for tok in (12, 4, 5):
        keys.advance(tok)
    assert not keys.accepts(5)  # a value needs a key first: not the object's shape
    assert keys.accepts(6)
    keys.advance(6)
    assert keys.accepts(9)


def test_context_of_a_prompt():
    assert context_of(f"{T.BEGIN_OF_TEXT}{T.TRACE_CONTEXT_START}x = 1\n{T.FRAME_SEP}") == "x = 1\n"
    assert context_of("no trace here") is None


class FixedScores:
    """Stands in for the network inside a real `LocalBackend`, so what is
    tested is the backend's decoding (masks, tries, stops), not how a
    trained model's floating-point scores happen to fall on this machine.

    A token n-gram over a few replies: each reply proposes the token after
    the longest tail of what was generated so far that it contains, scored
    by that tail's length (ties: the earlier reply first); every other
    token scores 0. So greedy decoding writes the first reply unless a
    constraint forbids one of its tokens, and from there follows the reply
    that matches best. It reads the whole sequence on every
    call: use it with `reuse_cache = False`."""

    def __init__(self, config, prompt: list[int], replies: list[list[int]]) -> None:
        self.config, self.prompt, self.replies = config, prompt, replies

    def __call__(self, input_ids, cache, use_cache: bool):
        import torch

        seq = input_ids[0].tolist()
        assert seq[: len(self.prompt)] == self.prompt, "FixedScores is for one prompt"
        done = seq[len(self.prompt) :]
        logits = torch.zeros(1, len(seq), self.config.vocab_size)  # (1, T, V)
        for rank, reply in enumerate(self.replies):
            k, nxt = _continuation(reply, done)
            score = 1 + k + 1 / (2 + rank)
            logits[0, -1, nxt] = max(score, float(logits[0, -1, nxt]))
        return SimpleNamespace(logits=logits, cache=cache)


def _continuation(reply: list[int], done: list[int]) -> tuple[int, int]:
    """(k, the token after the longest tail of `done`, k tokens, in `reply`)."""
    for k in range(min(len(done), len(reply) - 1), 0, -1):
        tail = done[len(done) - k :]
        for i in range(len(reply) - k):
            if reply[i : i + k] == tail:
                return k, reply[i + k]
    return 0, reply[0]


FOREIGN_NAME = '<|line_sep|>{"s": "0"}<|action_sep|>    out = []\n<|frame_sep|>'
FOREIGN_LINE = '<|line_sep|>{"words": "..", "k": ".."}<|action_sep|>    s += i\n<|frame_sep|>'
"""Frames OTHER cannot have: a local of another program (total's `s`), and
a line of another program (total's loop body)."""


@pytest.mark.parametrize("constrain", [True, False])
@pytest.mark.parametrize("foreign", [FOREIGN_NAME, FOREIGN_LINE], ids=["name", "line"])
def test_constraints_keep_a_model_to_the_programs_lines_and_names(micro_model, foreign, constrain):
    """Scores that prefer a frame OTHER cannot have, then OTHER's true next
    frame: free decoding writes the foreign frame, constrained decoding
    cannot (the key check refuses the name, the line trie the line), and
    falls back to the true one."""
    backend = LocalBackend(str(micro_model), device="cpu")
    backend.reuse_cache = False
    real = trace_program(OTHER, "f", "['banana', 'ax'], 3")
    prompt = prompt_text(real.source) + frame_text(real.frames[0], None)
    true_next = frame_text(real.frames[1], real.frames[0])

    def ids(text: str) -> list[int]:
        return backend.tokenizer(text, add_special_tokens=False)["input_ids"]

    backend.model = FixedScores(backend.model.config, ids(prompt), [ids(foreign), ids(true_next)])
    reply = backend.complete(prompt, Sampling(max_tokens=200, constrain=constrain))
    assert reply == (true_next if constrain else foreign)


def test_constraining_does_not_change_a_right_answer(micro_model):
    backend = LocalBackend(str(micro_model), device="cpu")
    imagined, _ = rollout(SRC, ENTRY, MEMORISED, backend, RolloutConfig(max_frames=40))
    real = trace_program(SRC, ENTRY, MEMORISED)
    assert (imagined.status, imagined.frames) == (real.status, real.frames)
