"""Problem families: each draws one whole solution script and its stdin.

A family is `(rng, size) -> (body, stdin)`: `body` solves ONE test case
(reads it with `input()`, prints its answer), `stdin` holds `T` cases
after a first line with `T`. `size` is the scale the caller drew (about
the elements per case); the family keeps its loops' work near
`size * T`, so a trace's length follows the draw. Each body carries a
drawn constant (a modulus, a limit, an offset) that changes its answers,
so two items are different programs (splits are drawn per program).
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable

Family = Callable[[random.Random, int, int], tuple[str, list[str]]]
"""(rng, size, cases) -> (body of one case, the cases' stdin lines)."""


def _ints(rng: random.Random, n: int, lo: int = 1, hi: int = 99) -> list[int]:
    return [rng.randint(lo, hi) for _ in range(n)]


def _line(xs: list[int]) -> str:
    return " ".join(map(str, xs))


def sum_max(rng: random.Random, size: int, cases: int) -> tuple[str, list[str]]:
    mod = rng.choice([7, 10, 13, 97, 1000])
    body = f"""\
n = int(input())
a = list(map(int, input().split()))
total = 0
best = a[0]
for x in a:
    total += x
    if x > best:
        best = x
print(total % {mod}, best)
"""
    lines = []
    for _ in range(cases):
        n = max(1, rng.randint(size // 2, size))
        lines += [str(n), _line(_ints(rng, n, -50, 99))]
    return body, lines


def prefix_sums(rng: random.Random, size: int, cases: int) -> tuple[str, list[str]]:
    bias = rng.randint(0, 9)
    body = f"""\
n, q = map(int, input().split())
a = list(map(int, input().split()))
pre = [0] * (n + 1)
for i in range(n):
    pre[i + 1] = pre[i] + a[i]
out = []
for _ in range(q):
    l, r = map(int, input().split())
    out.append(pre[r] - pre[l - 1] + {bias})
print(*out)
"""
    lines = []
    for _ in range(cases):
        n = max(1, rng.randint(size // 3, size // 2 + 1))
        q = max(1, rng.randint(1, max(1, size // 4)))
        lines += [f"{n} {q}", _line(_ints(rng, n, 0, 50))]
        for _ in range(q):
            lo = rng.randint(1, n)
            lines.append(f"{lo} {rng.randint(lo, n)}")
    return body, lines


def counting(rng: random.Random, size: int, cases: int) -> tuple[str, list[str]]:
    hi = rng.randint(3, 12)
    body = f"""\
n = int(input())
a = [int(x) % {hi} for x in input().split()]
count = {{}}
for x in a:
    count[x] = count.get(x, 0) + 1
best = min(count, key=lambda v: (-count[v], v))
print(best, count[best])
"""
    lines = []
    for _ in range(cases):
        n = max(1, rng.randint(size // 3, size // 2 + 1))
        lines += [str(n), _line(_ints(rng, n, 0, 40))]
    return body, lines


def two_pointers(rng: random.Random, size: int, cases: int) -> tuple[str, list[str]]:
    slack = rng.randint(0, 20)
    body = f"""\
n, s = map(int, input().split())
a = list(map(int, input().split()))
s += {slack}
left = 0
window = 0
longest = 0
for right in range(n):
    window += a[right]
    while window > s:
        window -= a[left]
        left += 1
    longest = max(longest, right - left + 1)
print(longest)
"""
    lines = []
    for _ in range(cases):
        n = max(1, rng.randint(size // 4, size // 3 + 1))
        lines += [f"{n} {rng.randint(5, 60)}", _line(_ints(rng, n, 1, 20))]
    return body, lines


def coin_change(rng: random.Random, size: int, cases: int) -> tuple[str, list[str]]:
    mod = rng.choice([1000, 10007, 998244353, 97])
    body = f"""\
amount, k = map(int, input().split())
coins = list(map(int, input().split()))
ways = [0] * (amount + 1)
ways[0] = 1
for c in coins:
    for v in range(c, amount + 1):
        ways[v] = (ways[v] + ways[v - c]) % {mod}
print(ways[amount])
"""
    lines = []
    for _ in range(cases):
        k = rng.randint(1, 3)
        amount = max(1, rng.randint(size // (2 * k) + 1, size // k + 1))
        coins = sorted(set(_ints(rng, k, 1, 9)))
        lines += [f"{amount} {len(coins)}", _line(coins)]
    return body, lines


def lis(rng: random.Random, size: int, cases: int) -> tuple[str, list[str]]:
    floor = rng.randint(0, 30)
    body = f"""\
n = int(input())
a = [max(int(x), {floor}) for x in input().split()]
dp = [1] * n
for i in range(n):
    for j in range(i):
        if a[j] < a[i] and dp[j] + 1 > dp[i]:
            dp[i] = dp[j] + 1
print(max(dp))
"""
    lines = []
    for _ in range(cases):
        n = max(1, min(40, int((size * 1.5) ** 0.5)))  # about n*n frames
        n = rng.randint(max(1, n // 2), n)
        lines += [str(n), _line(_ints(rng, n, 0, 60))]
    return body, lines


def strings(rng: random.Random, size: int, cases: int) -> tuple[str, list[str]]:
    marks = "".join(rng.sample("aeiou", rng.randint(1, 5)))
    body = f"""\
s = input().strip()
runs = []
vowels = 0
for ch in s:
    if ch in "{marks}":
        vowels += 1
    if runs and runs[-1][0] == ch:
        runs[-1][1] += 1
    else:
        runs.append([ch, 1])
code = "".join(f"{{c}}{{k}}" for c, k in runs)
print(vowels, code, s == s[::-1])
"""
    letters = rng.choice(["ab", "abc", "aeb", string.ascii_lowercase[:6]])
    lines = []
    for _ in range(cases):
        n = max(1, rng.randint(size // 5, size // 3 + 1))
        lines.append("".join(rng.choice(letters) for _ in range(n)))
    return body, lines


def gcd_primes(rng: random.Random, size: int, cases: int) -> tuple[str, list[str]]:
    extra = rng.randint(0, 5)
    body = f"""\
a, b = map(int, input().split())
while b:
    a, b = b, a % b
limit = a + {extra}
sieve = [True] * (limit + 1)
primes = 0
for p in range(2, limit + 1):
    if sieve[p]:
        primes += 1
        for m in range(p * p, limit + 1, p):
            sieve[m] = False
print(a, primes)
"""
    lines = []
    for _ in range(cases):
        g = rng.randint(2, max(2, size // 2))
        x, y = rng.randint(1, 30), rng.randint(1, 30)
        lines.append(f"{g * x} {g * y}")
    return body, lines


def sort_by_key(rng: random.Random, size: int, cases: int) -> tuple[str, list[str]]:
    top = rng.randint(1, 4)
    body = f"""\
n = int(input())
people = []
for _ in range(n):
    name, score = input().split()
    people.append((name, int(score)))
people.sort(key=lambda p: (-p[1], p[0]))
print(" ".join(name for name, _ in people[:{top}]))
"""
    lines = []
    for _ in range(cases):
        n = max(1, rng.randint(size // 6, size // 4 + 1))
        lines.append(str(n))
        for _ in range(n):
            name = "".join(rng.choice("abcdefgh") for _ in range(rng.randint(2, 5)))
            lines.append(f"{name} {rng.randint(0, 20)}")
    return body, lines


def simulation(rng: random.Random, size: int, cases: int) -> tuple[str, list[str]]:
    wrap = rng.randint(4, 12)
    body = f"""\
moves = input().strip()
x = y = 0
seen = {{(0, 0)}}
revisits = 0
for m in moves:
    if m == "U":
        y = (y + 1) % {wrap}
    elif m == "D":
        y = (y - 1) % {wrap}
    elif m == "L":
        x = (x - 1) % {wrap}
    else:
        x = (x + 1) % {wrap}
    if (x, y) in seen:
        revisits += 1
    seen.add((x, y))
print(x, y, revisits)
"""
    lines = []
    for _ in range(cases):
        n = max(1, rng.randint(size // 6, size // 4 + 1))
        lines.append("".join(rng.choice("UDLR") for _ in range(n)))
    return body, lines


def binary_search(rng: random.Random, size: int, cases: int) -> tuple[str, list[str]]:
    shift = rng.randint(0, 10)
    body = f"""\
n, q = map(int, input().split())
a = sorted(map(int, input().split()))
answers = []
for _ in range(q):
    t = int(input()) + {shift}
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if a[mid] < t:
            lo = mid + 1
        else:
            hi = mid
    answers.append(lo)
print(*answers)
"""
    lines = []
    for _ in range(cases):
        n = max(1, rng.randint(size // 4, size // 2 + 1))
        q = max(1, rng.randint(1, max(1, size // 8)))
        lines += [f"{n} {q}", _line(_ints(rng, n, 0, 99))]
        lines += [str(rng.randint(0, 105)) for _ in range(q)]
    return body, lines


FAMILIES: dict[str, Family] = {
    f.__name__: f
    for f in (
        sum_max,
        prefix_sums,
        counting,
        two_pointers,
        coin_change,
        lis,
        strings,
        gcd_primes,
        sort_by_key,
        simulation,
        binary_search,
    )
}
