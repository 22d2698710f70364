"""Regenerate examples/cruxeval_sample.jsonl: 30 small functions in CRUXEval's format.

Our own programs in CRUXEval's style (one function `f`, a literal input,
the repr of what it returns), written for tests and docs. Each output is
computed by running the function here, so the file can never disagree with
Python. Run: `.venv/bin/python scripts/cruxeval_sample.py`.
"""

from __future__ import annotations

import json
from pathlib import Path

PROGRAMS: list[tuple[str, str]] = [
    (
        """\
def f(s):
    return s[::-1].upper()
""",
        "'stone'",
    ),
    (
        """\
def f(xs):
    total = 0
    for x in xs:
        total += x * x
    return total
""",
        "[1, 2, 3]",
    ),
    (
        """\
def f(text, ch):
    count = 0
    for c in text:
        if c == ch:
            count += 1
    return count
""",
        "'banana', 'a'",
    ),
    (
        """\
def f(n):
    out = []
    while n > 0:
        out.append(n % 10)
        n //= 10
    return out
""",
        "4071",
    ),
    (
        """\
def f(d):
    keys = sorted(d)
    return [d[k] for k in keys]
""",
        "{'b': 2, 'a': 1, 'c': 3}",
    ),
    (
        """\
def f(words):
    longest = ''
    for w in words:
        if len(w) > len(longest):
            longest = w
    return longest
""",
        "['ox', 'horse', 'cat']",
    ),
    (
        """\
def f(xs, k):
    return xs[k:] + xs[:k]
""",
        "[1, 2, 3, 4, 5], 2",
    ),
    (
        """\
def f(s):
    seen = set()
    out = ''
    for c in s:
        if c not in seen:
            seen.add(c)
            out += c
    return out
""",
        "'mississippi'",
    ),
    (
        """\
def f(a, b):
    while b:
        a, b = b, a % b
    return a
""",
        "84, 36",
    ),
    (
        """\
def f(xs):
    evens = [x for x in xs if x % 2 == 0]
    odds = [x for x in xs if x % 2]
    return evens + odds
""",
        "[5, 2, 7, 4, 1]",
    ),
    (
        """\
def f(s):
    parts = s.split('-')
    parts.reverse()
    return '/'.join(parts)
""",
        "'2024-05-17'",
    ),
    (
        """\
def f(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a
""",
        "9",
    ),
    (
        """\
def f(text):
    counts = {}
    for w in text.split():
        counts[w] = counts.get(w, 0) + 1
    return counts
""",
        "'to be or not to be'",
    ),
    (
        """\
def f(xs):
    best = xs[0]
    for x in xs[1:]:
        best = max(best, x)
    return best
""",
        "[3, 9, -2, 9, 4]",
    ),
    (
        """\
def f(s, width):
    return s.center(width, '*')
""",
        "'hi', 7",
    ),
    (
        """\
def f(xs):
    out = []
    for i, x in enumerate(xs):
        out.append(x * i)
    return out
""",
        "[4, 3, 2, 1]",
    ),
    (
        """\
def f(s):
    return s.title().replace(' ', '')
""",
        "'read the docs'",
    ),
    (
        """\
def f(nums, target):
    seen = {}
    for i, n in enumerate(nums):
        if target - n in seen:
            return (seen[target - n], i)
        seen[n] = i
    return None
""",
        "[2, 7, 11, 15], 9",
    ),
    (
        """\
def f(x):
    if x < 0:
        return 'negative'
    elif x == 0:
        return 'zero'
    return 'positive'
""",
        "-3",
    ),
    (
        """\
def f(rows):
    return [list(col) for col in zip(*rows)]
""",
        "[[1, 2, 3], [4, 5, 6]]",
    ),
    (
        """\
def f(s):
    vowels = 'aeiou'
    return ''.join(c for c in s if c not in vowels)
""",
        "'education'",
    ),
    (
        """\
def f(xs):
    stack = []
    for x in xs:
        if stack and stack[-1] == x:
            stack.pop()
        else:
            stack.append(x)
    return stack
""",
        "[1, 2, 2, 3, 3, 3, 1]",
    ),
    (
        """\
def f(n):
    return [i * i for i in range(1, n + 1) if i % 3 != 0]
""",
        "8",
    ),
    (
        """\
def f(s):
    return {c: s.count(c) for c in sorted(set(s))}
""",
        "'abracadabra'",
    ),
    (
        """\
def f(price, pct):
    discount = price * pct / 100
    return round(price - discount, 2)
""",
        "80.0, 15",
    ),
    (
        """\
def f(xs):
    xs = list(xs)
    xs.insert(1, 'x')
    xs.extend(['y', 'z'])
    return tuple(xs)
""",
        "('a', 'b')",
    ),
    (
        """\
def f(s):
    try:
        return int(s) * 2
    except ValueError:
        return -1
""",
        "'12a'",
    ),
    (
        """\
def f(d, key):
    d = dict(d)
    d.setdefault(key, [])
    d[key].append(len(d))
    return d
""",
        "{'a': [0]}, 'b'",
    ),
    (
        """\
def f(text):
    words = text.split()
    return ' '.join(w[::-1] for w in words)
""",
        "'code world model'",
    ),
    (
        """\
def f(n):
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps
""",
        "6",
    ),
]


def output_of(code: str, args: str) -> str:
    ns: dict = {}
    exec(code, ns)
    return repr(eval(f"f({args})", ns))


def main() -> None:
    out = Path(__file__).resolve().parent.parent / "examples" / "cruxeval_sample.jsonl"
    lines = []
    for k, (code, args) in enumerate(PROGRAMS):
        row = {"code": code, "input": args, "output": output_of(code, args), "id": f"sample_{k}"}
        lines.append(json.dumps(row) + "\n")
    out.write_text("".join(lines), encoding="utf-8")
    print(f"{out}: {len(lines)} problems")


if __name__ == "__main__":
    main()
