"""Input values for generated functions, and the literal vocabulary of a program.

Inputs are drawn first; the strings in them seed a per-program vocabulary
so that the literals the code searches for (`s.count('a')`, `'ab' in
text`) often occur in the data, which makes the traces say something.
Inputs are written the way CRUXEval writes them: Python literals joined by
", ", sets sorted (a set literal's order must not depend on hashing).
"""

from __future__ import annotations

import random

from opencwm.data.synthetic.knobs import Knobs
from opencwm.data.synthetic.scope import (
    BOOL,
    DICT_II,
    DICT_SI,
    DICT_SS,
    INT,
    LIST_INT,
    LIST_STR,
    SET_INT,
    STR,
    TUPLE_INT,
)

WORDS = (
    "apple", "banana", "cat", "dog", "hello", "world", "foo", "bar", "abc", "xyz", "level",
    "noon", "data", "code", "red", "blue", "green", "a", "b", "one", "two", "sun", "moon",
    "tree", "key", "map", "ab", "ba", "aa", "hi", "ok", "Bob", "Alice", "HELLO", "Mixed",
    "python", "stack", "queue", "x", "yes", "no", "top", "pot", "racecar", "kiwi", "egg",
)  # fmt: skip
"""A small realistic vocabulary; words repeat across programs on purpose."""

ALPHABETS = (
    "abc",
    "abcde",
    "abcxyz",
    "aeiou",
    "abcdefghijklmnopqrstuvwxyz",
    "ab ",
    "abc-,",
    "0123456789",
    "a1b2c3",
    "aAbB",
    "xyzXYZ ",
    "hello world",
)
"""Character pools for random strings; small pools make repeats (and matches) likely."""


def rand_int(rng: random.Random, k: Knobs) -> int:
    """Mostly small and non-negative: 60% in 0..9, 30% up to max_int, 10% negative."""
    r = rng.random()
    if r < 0.6:
        return int(r / 0.6 * (min(9, k.max_int) + 1))
    if r < 0.9:
        return int((r - 0.6) / 0.3 * (k.max_int + 1))
    return -1 - int((r - 0.9) / 0.1 * k.max_int)


def _word(rng: random.Random, k: Knobs) -> str:
    return rng.choice(WORDS)[: k.max_str_len]


def rand_str(rng: random.Random, k: Knobs) -> str:
    """A word, a few joined words, random characters, or padded ones; never
    longer than `max_str_len`."""
    style = rng.random()
    if style < 0.35:
        return _word(rng, k)
    if style < 0.5:
        sep = rng.choice((" ", " ", ",", "-", ", "))
        words = [_word(rng, k)]
        for _ in range(rng.randint(1, 2)):
            w = _word(rng, k)
            if len(sep.join([*words, w])) > k.max_str_len:
                break
            words.append(w)
        return sep.join(words)
    alphabet = rng.choice(ALPHABETS)
    pad = style > 0.95 and k.max_str_len > 3
    n = rng.randint(0 if style < 0.53 else 1, k.max_str_len - (3 if pad else 0))
    s = "".join(rng.choice(alphabet) for _ in range(n))
    return " " + s + "  " if pad else s


def rand_value(rng: random.Random, ty: str, k: Knobs) -> object:
    """A random value of type `ty`, sized by the knobs."""
    if ty == INT:
        return rand_int(rng, k)
    if ty == BOOL:
        return rng.random() < 0.5
    if ty == STR:
        return rand_str(rng, k)
    if ty == LIST_INT:
        n = _length(rng, k)
        if rng.random() < 0.3:  # duplicates make count/index/remove interesting
            pool = [rand_int(rng, k) for _ in range(max(1, n // 2))]
            return [rng.choice(pool) for _ in range(n)]
        return [rand_int(rng, k) for _ in range(n)]
    if ty == LIST_STR:
        n = _length(rng, k)
        if rng.random() < 0.4:
            alphabet = rng.choice(ALPHABETS[:6])
            return [rng.choice(alphabet) for _ in range(n)]
        return [_word(rng, k) for _ in range(n)]
    cap = min(4, k.max_list_len)
    if ty == TUPLE_INT:
        return tuple(rand_int(rng, k) for _ in range(rng.randint(1, cap)))
    if ty == SET_INT:
        return {rand_int(rng, k) for _ in range(rng.randint(0, cap + 1))}
    n = rng.randint(0, cap)
    if ty == DICT_SI:
        return {_word(rng, k): rand_int(rng, k) for _ in range(n)}
    if ty == DICT_II:
        return {rand_int(rng, k): rand_int(rng, k) for _ in range(n)}
    if ty == DICT_SS:
        return {_word(rng, k): _word(rng, k) for _ in range(n)}
    raise AssertionError(f"no values for type {ty!r}")


def _length(rng: random.Random, k: Knobs) -> int:
    return 0 if rng.random() < 0.04 else rng.randint(1, k.max_list_len)


def literal(value: object) -> str:
    """Python source for `value`; sets sorted so the text is hash-independent."""
    if isinstance(value, set):
        return "{" + ", ".join(map(repr, sorted(value))) + "}" if value else "set()"
    return repr(value)


def vocabulary(values: list[object]) -> tuple[list[str], list[str]]:
    """(chars, words) found in the string parts of `values`, in first-seen order."""
    chars: dict[str, None] = {}
    words: dict[str, None] = {}

    def visit(v: object) -> None:
        if isinstance(v, str):
            for c in v:
                if not c.isspace():
                    chars[c] = None
            for w in v.replace(",", " ").replace("-", " ").split():
                words[w] = None
        elif isinstance(v, (list, tuple)):
            for x in v:
                visit(x)
        elif isinstance(v, dict):
            for key, x in v.items():
                visit(key)
                visit(x)

    for v in values:
        visit(v)
    return list(chars), list(words)
