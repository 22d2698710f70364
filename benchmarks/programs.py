"""A fixed set of small deterministic programs for the tracer benchmarks.

Why these: the tracer exists to record CRUXEval/HumanEval-style functions,
so the benchmarks time that kind of code: loops over lists and strings,
dicts, helper calls, recursion, comprehensions, string methods, sorting.
Each input is sized so one run makes roughly 1k-20k trace events; at that
size per-event tracing cost dominates and start-up cost does not.

Only builtins are called (no stdlib modules): a stdlib function written in
Python would be opaque to opencwm but traced by PySnooper at `depth > 1`,
which would make the comparison unfair. Nothing iterates a set of strings,
so the event count does not depend on the hash seed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Program:
    """One benchmark case: `entry(<input>)` in `source`."""

    name: str
    source: str
    entry: str
    input: str  # CRUXEval-style call arguments, e.g. "[1, 2], 'a'"


def _p(name: str, entry: str, input: str, source: str) -> Program:
    return Program(name, source.strip("\n") + "\n", entry, input)


PROGRAMS: tuple[Program, ...] = (
    _p(
        "bubble_sort",
        "f",
        "[(i * 37) % 41 for i in range(40)]",
        """
def f(nums):
    a = list(nums)
    n = len(a)
    for i in range(n):
        swapped = False
        for j in range(n - 1 - i):
            if a[j] > a[j + 1]:
                a[j], a[j + 1] = a[j + 1], a[j]
                swapped = True
        if not swapped:
            break
    return a
""",
    ),
    _p(
        "fib_recursive",
        "f",
        "15",
        """
def f(n):
    if n < 2:
        return n
    return f(n - 1) + f(n - 2)
""",
    ),
    _p(
        "word_count",
        "f",
        "'the quick brown fox jumps over the lazy dog and the dog sleeps ' * 30",
        """
def f(text):
    counts = {}
    for word in text.split():
        word = word.strip('.,').lower()
        if not word:
            continue
        counts[word] = counts.get(word, 0) + 1
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return top[:3]
""",
    ),
    _p(
        "caesar_cipher",
        "f",
        "'Hello, World! Attack at dawn. ' * 20, 3",
        """
def shift(c, k):
    if c.isupper():
        return chr((ord(c) - 65 + k) % 26 + 65)
    if c.islower():
        return chr((ord(c) - 97 + k) % 26 + 97)
    return c

def f(text, k):
    out = []
    for c in text:
        out.append(shift(c, k))
    return ''.join(out)
""",
    ),
    _p(
        "palindromes",
        "f",
        "['racecar', 'level', 'python', 'noon', 'abcdcba', 'banana', 'stats'] * 25",
        """
def is_pal(s):
    i, j = 0, len(s) - 1
    while i < j:
        if s[i] != s[j]:
            return False
        i += 1
        j -= 1
    return True

def f(words):
    found = []
    for w in words:
        if is_pal(w):
            found.append(w)
    return len(found)
""",
    ),
    _p(
        "prime_sieve",
        "f",
        "700",
        """
def f(n):
    is_prime = [True] * (n + 1)
    is_prime[0] = is_prime[1] = False
    p = 2
    while p * p <= n:
        if is_prime[p]:
            for m in range(p * p, n + 1, p):
                is_prime[m] = False
        p += 1
    primes = [i for i, ok in enumerate(is_prime) if ok]
    return primes[-5:]
""",
    ),
    _p(
        "matrix_multiply",
        "f",
        "[[i + j for j in range(9)] for i in range(9)]",
        """
def f(m):
    n = len(m)
    out = [[0] * n for _ in range(n)]
    for i in range(n):
        for j in range(n):
            total = 0
            for k in range(n):
                total += m[i][k] * m[k][j]
            out[i][j] = total
    return out[n - 1]
""",
    ),
    _p(
        "run_length",
        "f",
        "'aaabccddddde' * 60",
        """
def f(s):
    out = []
    prev = s[0]
    count = 0
    for ch in s:
        if ch == prev:
            count += 1
        else:
            out.append(prev + str(count))
            prev = ch
            count = 1
    out.append(prev + str(count))
    return ''.join(out)[:40]
""",
    ),
    _p(
        "two_sum",
        "f",
        "[(i * 7) % 53 for i in range(60)], 101",
        """
def f(nums, target):
    pairs = []
    for i in range(len(nums)):
        for j in range(i + 1, len(nums)):
            if nums[i] + nums[j] == target:
                pairs.append((i, j))
    return pairs
""",
    ),
    _p(
        "flatten_nested",
        "f",
        "[[1, [2, [3, [4, 5]], 6]], [7, [8, 9]], 10] * 40",
        """
def flatten(x, out):
    for item in x:
        if isinstance(item, list):
            flatten(item, out)
        else:
            out.append(item)
    return out

def f(nested):
    flat = flatten(nested, [])
    return sum(flat), len(flat)
""",
    ),
    _p(
        "binary_search",
        "f",
        "list(range(0, 400, 3)), list(range(0, 400, 2))",
        """
def search(a, x):
    lo, hi = 0, len(a) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        if a[mid] == x:
            return mid
        if a[mid] < x:
            lo = mid + 1
        else:
            hi = mid - 1
    return -1

def f(a, queries):
    hits = 0
    for q in queries:
        if search(a, q) >= 0:
            hits += 1
    return hits
""",
    ),
    _p(
        "anagram_groups",
        "f",
        "['listen', 'silent', 'enlist', 'google', 'gooegl', 'cat', 'act', 'tac'] * 30",
        """
def key(word):
    return ''.join(sorted(word))

def f(words):
    groups = {}
    for w in words:
        k = key(w)
        if k not in groups:
            groups[k] = []
        groups[k].append(w)
    sizes = [len(v) for v in groups.values()]
    return sorted(sizes, reverse=True)
""",
    ),
    _p(
        "collatz",
        "f",
        "60",
        """
def steps(n):
    count = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        count += 1
    return count

def f(limit):
    best, best_n = 0, 1
    for n in range(1, limit):
        s = steps(n)
        if s > best:
            best, best_n = s, n
    return best_n, best
""",
    ),
    _p(
        "lcs_dp",
        "f",
        "'AGGTABQWERTYXYZ' * 2, 'GXTXAYBQWTYZZ' * 2",
        """
def f(a, b):
    rows, cols = len(a) + 1, len(b) + 1
    dp = [[0] * cols for _ in range(rows)]
    for i in range(1, rows):
        for j in range(1, cols):
            if a[i - 1] == b[j - 1]:
                dp[i][j] = dp[i - 1][j - 1] + 1
            else:
                dp[i][j] = max(dp[i - 1][j], dp[i][j - 1])
    return dp[-1][-1]
""",
    ),
    _p(
        "merge_sort",
        "f",
        "[(i * 53) % 97 for i in range(80)]",
        """
def merge(left, right):
    out = []
    i = j = 0
    while i < len(left) and j < len(right):
        if left[i] <= right[j]:
            out.append(left[i])
            i += 1
        else:
            out.append(right[j])
            j += 1
    return out + left[i:] + right[j:]

def f(a):
    if len(a) <= 1:
        return a
    mid = len(a) // 2
    return merge(f(a[:mid]), f(a[mid:]))
""",
    ),
    _p(
        "balanced_parens",
        "f",
        "['(()[]{})', '([)]', '{[()()]}', '((()', '[]{}()'] * 40",
        """
PAIRS = {')': '(', ']': '[', '}': '{'}

def balanced(s):
    stack = []
    for ch in s:
        if ch in '([{':
            stack.append(ch)
        elif not stack or stack.pop() != PAIRS[ch]:
            return False
    return not stack

def f(items):
    return [balanced(s) for s in items].count(True)
""",
    ),
    _p(
        "title_words",
        "f",
        "'  the art of computer programming   volume one   fundamental algorithms ' * 40",
        """
SMALL = ('of', 'the', 'a', 'an', 'and')

def f(text):
    words = text.split()
    out = []
    for i, w in enumerate(words):
        if i > 0 and w in SMALL:
            out.append(w.lower())
        else:
            out.append(w[:1].upper() + w[1:].lower())
    title = ' '.join(out)
    return title.replace('Volume', 'Vol.')[:60]
""",
    ),
    _p(
        "to_roman",
        "f",
        "list(range(1, 200, 3))",
        """
VALUES = [(1000, 'M'), (900, 'CM'), (500, 'D'), (400, 'CD'), (100, 'C'), (90, 'XC'),
          (50, 'L'), (40, 'XL'), (10, 'X'), (9, 'IX'), (5, 'V'), (4, 'IV'), (1, 'I')]

def roman(n):
    out = ''
    for value, sym in VALUES:
        while n >= value:
            out += sym
            n -= value
    return out

def f(nums):
    return [roman(n) for n in nums][-3:]
""",
    ),
    _p(
        "comprehensions",
        "f",
        "list(range(-150, 150))",
        """
def square(x):
    return x * x

def f(nums):
    evens = [x for x in nums if x % 2 == 0]
    squares = [square(x) for x in evens]
    table = {x: square(x) % 7 for x in nums if x > 0}
    signs = [('+' if x > 0 else '-' if x < 0 else '0') for x in nums]
    return sum(squares), len(table), signs.count('+')
""",
    ),
    _p(
        "quicksort",
        "f",
        "[(i * 71) % 101 for i in range(90)]",
        """
def f(a):
    if len(a) <= 1:
        return a
    pivot = a[len(a) // 2]
    less = [x for x in a if x < pivot]
    equal = [x for x in a if x == pivot]
    more = [x for x in a if x > pivot]
    return f(less) + equal + f(more)
""",
    ),
    _p(
        "edit_distance",
        "f",
        "'intention' * 3, 'execution' * 3",
        """
def f(a, b):
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i]
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost))
        prev = cur
    return prev[-1]
""",
    ),
    _p(
        "sort_records",
        "f",
        "[{'name': 'n' + str(i), 'age': i * 17 % 60, 'score': i * 31 % 100} for i in range(250)]",
        """
def f(rows):
    adults = [r for r in rows if r['age'] >= 18]
    ranked = sorted(adults, key=lambda r: (-r['score'], r['name']))
    by_decade = {}
    for r in ranked:
        d = r['age'] // 10 * 10
        by_decade.setdefault(d, []).append(r['name'])
    return {d: names[:2] for d, names in sorted(by_decade.items())}
""",
    ),
    _p(
        "permutations",
        "f",
        "[1, 2, 3, 4, 5]",
        """
def permute(items, prefix, out):
    if not items:
        out.append(prefix)
        return
    for i in range(len(items)):
        permute(items[:i] + items[i + 1:], prefix + [items[i]], out)

def f(items):
    out = []
    permute(items, [], out)
    return len(out), out[-1]
""",
    ),
    _p(
        "gcd_lcm",
        "f",
        "[(i * 13) % 97 + 2 for i in range(120)]",
        """
def gcd(a, b):
    while b:
        a, b = b, a % b
    return a

def f(nums):
    g = nums[0]
    l = nums[0]
    for x in nums[1:]:
        g = gcd(g, x)
        l = l * x // gcd(l, x) % 1000003
    return g, l
""",
    ),
    _p(
        "vowel_stats",
        "f",
        "'Programming in Python is fun; tracing it line by line is funnier. ' * 12",
        """
def f(text):
    stats = {'vowels': 0, 'consonants': 0, 'other': 0}
    for ch in text.lower():
        if ch in 'aeiou':
            stats['vowels'] += 1
        elif ch.isalpha():
            stats['consonants'] += 1
        else:
            stats['other'] += 1
    return stats
""",
    ),
)
"""The benchmark set, in a fixed order."""


def by_name(name: str) -> Program:
    """The program called `name`; the error lists the known names."""
    for p in PROGRAMS:
        if p.name == name:
            return p
    known = ", ".join(p.name for p in PROGRAMS)
    raise KeyError(f"unknown program {name!r}; known: {known}")
