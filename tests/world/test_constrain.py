"""Constrained decoding: the action line is always one of the context's lines."""

from __future__ import annotations

from pathlib import Path

import pytest
from micro_cwm import ENTRY, MEMORISED, SRC

from opencwm.trace import tokens as T
from opencwm.trace.cwm import frame_text
from opencwm.trace.source import source_lines, strip_marker
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


@pytest.mark.parametrize("constrain", [True, False])
def test_a_model_on_a_program_it_never_saw_writes_only_its_lines(micro_model, constrain):
    """The micro model knows one program by heart; on another one, free
    decoding copies lines of the program it knows, constrained decoding
    cannot."""
    backend = LocalBackend(str(micro_model), device="cpu")
    config = RolloutConfig(max_frames=12, sampling=Sampling(max_tokens=96, constrain=constrain))
    _, steps = rollout(OTHER, "f", "['banana', 'ax'], 3", backend, config)
    lines = {strip_marker(line) for line in source_lines(OTHER)}
    wrote = [s.raw.split(T.ACTION_SEP)[1].split("\n")[0] for s in steps if T.ACTION_SEP in s.raw]
    assert wrote
    if constrain:
        assert all(line in lines for line in wrote)
        names = context_names(OTHER)
        assert all(set(s.frame.locals) <= names for s in steps if s.frame is not None)
    else:
        assert any(line not in lines for line in wrote)


def test_constraining_does_not_change_a_right_answer(micro_model):
    backend = LocalBackend(str(micro_model), device="cpu")
    imagined, _ = rollout(SRC, ENTRY, MEMORISED, backend, RolloutConfig(max_frames=40))
    real = trace_program(SRC, ENTRY, MEMORISED)
    assert (imagined.status, imagined.frames) == (real.status, real.frames)
