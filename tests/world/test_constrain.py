"""Constrained decoding: the action line is always one of the context's lines."""

from __future__ import annotations

from pathlib import Path

import pytest
from micro_cwm import ENTRY, MEMORISED, SRC
from sample_programs import ASYNC, NESTED, RAISES
from scripted import FixedScores

from opencwm.trace import tokens as T
from opencwm.trace.cwm import frame_text, prompt_text
from opencwm.tracer.api import trace_program
from opencwm.world.backends import LocalBackend, Sampling
from opencwm.world.constrain import (
    KeyConstraint,
    ScopeLines,
    carried_keys,
    concurrent_context,
    context_of,
    deletes_names,
    last_values,
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


DELETES = """def g(xs):
    seen = set()
    for x in xs:
        tmp = x * 2
        seen.add(tmp)
        del tmp
    return sorted(seen)
"""

REAL_RUNS = [
    (OTHER, "f", "['banana', 'ax', 'kiwi'], 3"),
    (NESTED, "squares", "[1, 2, 3]"),
    (RAISES, "ratio", "0"),
    (DELETES, "g", "[3, 1, 3]"),
]


@pytest.fixture(scope="module")
def bundled_backend():
    return LocalBackend(str(BUNDLED), device="cpu")


@pytest.mark.parametrize("source,entry,args", REAL_RUNS, ids=["loop", "nested", "raises", "del"])
def test_the_true_next_frame_always_passes_both_constraints(bundled_backend, source, entry, args):
    """Sound on real runs: after every true prefix, the constraints the
    backend builds for it (the line trie, scoped to the activation's
    function where the frame before fixes it; the key check, with the
    carried keys, their order and `..` only for them) let the true next
    frame's training tokens through, the line walked to a leaf. A line is
    tokenised the same way in training (inside a frame) as in the trie."""
    tokenizer = bundled_backend.tokenizer
    trace = trace_program(source, entry, args)
    prompt = prompt_text(trace.source)
    walked = checked = 0
    for i, frame in enumerate(trace.frames):
        text = frame_text(frame, trace.frames[i - 1] if i else None)
        guide, keys = bundled_backend._constraint(prompt)
        for tok in tokenizer(text, add_special_tokens=False)["input_ids"]:
            allowed = guide.allowed()
            assert allowed is None or tok in allowed, f"frame {i}: {tokenizer.decode([tok])!r}"
            assert keys.accepts(tok), f"frame {i}: {tokenizer.decode([tok])!r} refused"
            walked += allowed is not None
            checked += keys.active
            guide.advance(tok)
            keys.advance(tok)
        assert guide.allowed() is None and not keys.active
        prompt += text
    assert walked > len(trace.frames) and checked > 0


def distributed_run():
    import random

    from opencwm.distributed.systems import generate

    system = generate(random.Random(3), "two-phase")
    return system.code, "main", system.input


@pytest.mark.parametrize("kind", ["distributed", "asyncio"])
def test_concurrent_programs_decode_unconstrained_so_no_true_frame_is_refused(
    bundled_backend, kind
):
    """A concurrent context's frames carry `[ACTOR] ` prefixes and
    `<send>`/`<recv>` actions, which no rule knows: the constraints step
    aside after every true prefix (the recorder's own test decides), so
    every token of every true frame passes."""
    source, entry, args = distributed_run() if kind == "distributed" else (ASYNC, "main", "")
    trace = trace_program(source, entry, args)
    assert trace.status == "returned" and trace.concurrent, trace.reason
    assert concurrent_context(trace.source)
    assert any(f.event in ("send", "recv") for f in trace.frames) == (kind == "distributed")
    prompt = prompt_text(trace.source)
    for i, frame in enumerate(trace.frames):
        assert bundled_backend._constraint(prompt) == (None, None), f"frame {i}"
        prompt += frame_text(frame, trace.frames[i - 1] if i else None)
    # a program of one activity is still constrained
    assert bundled_backend._constraint(prompt_text(NESTED))[0] is not None
    assert not concurrent_context(NESTED)


def test_a_frame_of_the_same_activation_names_a_line_of_its_function():
    lines = ScopeLines(NESTED)
    after = lines.after("line", "    out = []")
    assert after["line"] == {"    for x in xs:"}  # control flow: the next statement only
    assert after["return"] == after["exception"] == {"    out = []"}  # the line that ran
    loop = lines.after("line", "        out.append(sq(x))")["line"]
    assert loop == {"    for x in xs:"}  # back to the loop
    assert lines.after("line", "    for x in xs:")["line"] == {
        "    for x in xs:",
        "        out.append(sq(x))",
        "    return out",
    }
    assert lines.after("call", "def sq(x):")["line"] == {"    return x * x"}
    assert lines.after("return", "    return out") is None  # back in a caller: not known here
    assert lines.after("line", "not a line of it") is None
    assert lines.names_after("line", "    out = []") == {"xs", "out", "x"}  # not sq, not append
    assert lines.names_after("call", "def sq(x):") == {"x"}
    comp = ScopeLines("def f(xs, k):\n    return [x * k for x in xs]\n")
    assert comp.names_after("call", "def f(xs, k):") == {"xs", "k", "x"}  # the listcomp's own


LOOP = """def f(xs, k):
    total = 0
    name = 'x'
    for x in xs:
        total += x * k
    return total, name
"""


def test_immutable_values_a_line_does_not_rebind_are_unchanged():
    lines = ScopeLines(LOOP)
    values = {"xs": "[1, 2]", "k": "3", "total": "0", "name": "'x'", "x": "1"}
    # the loop header rebinds x; xs is a list (mutable: a call could change it)
    assert lines.unchanged_after("line", "    for x in xs:", values) == {"k", "total", "name"}
    assert lines.unchanged_after("line", "        total += x * k", values) == {"k", "name", "x"}
    assert lines.unchanged_after("call", "def f(xs, k):", values) == {"k", "total", "name", "x"}
    assert lines.unchanged_after("return", "    return total, name", values) == set()
    assert lines.unchanged_after("line", "    name = 'x'", {**values, "k": None}) == {"total", "x"}
    shared = ScopeLines("def f():\n    n = 0\n    def g():\n        nonlocal n\n        n += 1\n")
    assert shared.unchanged_after("line", "    n = 0", {"n": "0"}) == set()  # g may rebind n


def test_last_values_resolve_unchanged_marks_back_through_the_activation():
    head = f"{T.BEGIN_OF_TEXT}{T.TRACE_CONTEXT_START}ctx{T.FRAME_SEP}"
    frames = [
        f'{T.CALL_SEP}{{"a": "1"}}{T.ACTION_SEP}def f(a):\n{T.FRAME_SEP}',
        f'{T.LINE_SEP}{{"a": ".."}}{T.ACTION_SEP}    b = 2\n{T.FRAME_SEP}',
        f'{T.LINE_SEP}{{"a": "..", "b": "2"}}{T.ACTION_SEP}    c = 3\n{T.FRAME_SEP}',
    ]
    assert last_values(head + "".join(frames) + T.LINE_SEP) == {"a": "1", "b": "2"}
    assert last_values(head + "".join(frames[1:])) == {"a": None, "b": "2"}  # out of the window


def test_a_fixed_key_is_written_unchanged():
    texts = [*'{}":, ', *"ab12.", "<c>", "<l>", "<a>"]
    ids = texts.index
    keys = KeyConstraint(
        {"a", "b"},
        texts,
        {ids("<c>"), ids("<l>")},
        ids("<a>"),
        line_open=ids("<l>"),
        carried=("a", "b"),
        fixed=frozenset({"a"}),
    )
    keys.advance(ids("<l>"))
    assert not _accepted(keys, '{"a": "2', texts)
    keys.advance(ids("<l>"))
    assert not _accepted(keys, '{"a": ".2', texts)
    keys.advance(ids("<l>"))
    assert _accepted(keys, '{"a": "..", "b": "2"}', texts) and keys.accepts(ids("<a>"))


def test_a_value_after_arg_sep_is_one_string_then_the_frame_ends():
    texts = [*'{}":, ', *"ab1\n", "<r>", "<a>", "<g>", "<f>"]
    ids = texts.index
    keys = KeyConstraint(
        {"a", "b"},
        texts,
        set(),
        ids("<a>"),
        specials=frozenset({ids("<r>"), ids("<a>"), ids("<g>"), ids("<f>")}),
        arg_sep=ids("<g>"),
        frame_sep=ids("<f>"),
        arg_events=frozenset({ids("<r>")}),
    )
    for tok in ("<r>", "<a>", "a", "\n"):  # a return frame's action line
        keys.advance(ids(tok))
    assert not keys.accepts(ids("<f>")) and keys.accepts(ids("<g>"))  # its value first
    keys.advance(ids("<g>"))
    assert _accepted(keys, '"1', texts)
    assert not keys.accepts(ids("<f>"))  # not inside the string
    assert _accepted(keys, '"', texts) and not keys.accepts(ids("1"))
    assert keys.accepts(ids("<f>"))


def test_no_key_is_opened_when_no_name_is_left():
    texts = [*'{}":, ', *"ab1", "<l>", "<a>"]
    ids = texts.index
    keys = KeyConstraint({"a", "b"}, texts, {ids("<l>")}, ids("<a>"))
    keys.advance(ids("<l>"))
    assert _accepted(keys, '{"a": "1", "b": "1"', texts)
    assert not keys.accepts(ids(","))  # both names written: only the end of the object
    assert keys.accepts(ids("}"))


def test_a_line_object_holds_only_names_of_its_function_and_no_special_token():
    texts = [*'{}":, ', *"abcd1.", "<c>", "<l>", "<a>", "<f>"]
    ids = texts.index
    keys = KeyConstraint(
        {"a", "b", "c", "d"},
        texts,
        {ids("<c>"), ids("<l>")},
        ids("<a>"),
        line_open=ids("<l>"),
        carried=("a",),
        scope_names=frozenset({"a", "b"}),
        specials=frozenset({ids("<f>")}),
    )
    keys.advance(ids("<l>"))
    assert _accepted(keys, '{"a": "1", "', texts)
    assert not keys.accepts(ids("c"))  # a name of the program, not of this function
    assert _accepted(keys, 'b": "', texts)
    assert not keys.accepts(ids("<f>"))  # a stop token would cut the frame short
    keys.advance(ids("<c>"))  # a call object: any name of the program again
    assert _accepted(keys, '{"c": "1"}', texts)


def _accepted(keys: KeyConstraint, text: str, texts: list[str]) -> bool:
    """Whether `keys` lets a one-character-a-token tokenizer write `text`."""
    for ch in text:
        tok = texts.index(ch)
        if not keys.accepts(tok):
            return False
        keys.advance(tok)
    return True


@pytest.mark.parametrize(
    "last,obj,ok",
    [
        ('<l>{"a": "1", "b": "2"}<a>x\n', '<l>{"a": "..", "b": "3", "c": "4"}<a>', True),
        (
            '<l>{"a": "1", "b": "2"}<a>x\n',
            '<l>{"b": "2", "a": "1"}<a>',
            False,
        ),  # carried keys reordered
        ('<l>{"a": "1", "b": "2"}<a>x\n', '<l>{"a": "1"}<a>', False),  # a carried key dropped
        ('<l>{"a": "1"}<a>x\n', '<l>{"a": "..", "c": ".."}<a>', False),  # `..` for a new key
        ('<l>{"a": "1"}<a>x\n', '<c>{"a": ".."}<a>', False),  # `..` in a call frame
        (
            '<r><a>x\n<g>"1"',
            '<l>{"a": ".."}<a>',
            False,
        ),  # `..` after a return: no earlier value in reach
        (
            '<r><a>x\n<g>"1"',
            '<l>{"c": "1", "a": "2"}<a>',
            True,
        ),  # back in a caller: any names, any order
    ],
)
def test_a_line_frame_carries_the_previous_frames_keys(last, obj, ok):
    texts = [*'{}":, ', *"abc1234.", "<c>", "<l>", "<r>", "<a>", "<f>", "x"]
    ids = texts.index
    names = {"a", "b", "c"}
    prompt = f"{T.BEGIN_OF_TEXT}{T.TRACE_CONTEXT_START}ctx{T.FRAME_SEP}"
    tokens = {"<c>": T.CALL_SEP, "<l>": T.LINE_SEP, "<r>": T.RETURN_SEP, "<a>": T.ACTION_SEP}
    for short, tok in {**tokens, "<g>": T.ARG_SEP}.items():
        last = last.replace(short, tok)
    prompt += last + T.FRAME_SEP
    keys = KeyConstraint(
        names,
        texts,
        {ids("<c>"), ids("<l>")},
        ids("<a>"),
        line_open=ids("<l>"),
        carried=carried_keys(prompt),
    )
    written = obj.replace("<a>", "").replace("<l>", "").replace("<c>", "")
    opener = ids(obj[:3])
    keys.advance(opener)
    assert (_accepted(keys, written, texts) and keys.accepts(ids("<a>"))) == ok


def test_carried_keys_of_a_prompt():
    head = f"{T.BEGIN_OF_TEXT}{T.TRACE_CONTEXT_START}x = 1\n{T.FRAME_SEP}"
    line = f'{T.LINE_SEP}{{"a": "1", "b": ".."}}{T.ACTION_SEP}x = 1\n{T.FRAME_SEP}'
    assert carried_keys(head) == () and carried_keys(head + T.LINE_SEP) == ()
    assert carried_keys(head + line) == ("a", "b") == carried_keys(head + line + T.LINE_SEP)
    assert carried_keys(head + f'{T.RETURN_SEP}{T.ACTION_SEP}x\n{T.ARG_SEP}"1"{T.FRAME_SEP}') == ()
    assert carried_keys(head + f"{T.LINE_SEP}{{oops{T.FRAME_SEP}") is None
    assert deletes_names("def g():\n    del x\n") and not deletes_names("model = 1\n")


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
