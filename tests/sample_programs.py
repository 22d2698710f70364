"""Small programs that several test folders drive through the world model
(rollout, debugger): a loop, a nested call and an exception raised in a callee."""

SRC = "def total(n):\n    s = 0\n    for i in range(n):\n        s += i\n    return s\n"

NESTED = """\
def sq(x):
    return x * x


def squares(xs):
    out = []
    for x in xs:
        out.append(sq(x))
    return out
"""

RAISES = """\
def helper(d, n):
    return d // n


def ratio(n):
    d = 10
    return helper(d, n)
"""


# tasks of one asyncio event loop: two actors, interleaved at each await
ASYNC = """import asyncio


async def worker(name, n):
    total = 0
    for i in range(n):
        total += i
        await asyncio.sleep(0)
    return total


def main():  # << START_OF_TRACE
    async def both():
        return await asyncio.gather(worker("a", 2), worker("b", 3))

    return asyncio.run(both())
"""


# a contest-shaped script: T cases read from stdin, each solved in solve(),
# which calls a helper: long traces with callers live across windows
CONTEST = """\
import sys


def gcd(a, b):
    while b:
        a, b = b, a % b
    return a


def solve():
    n = int(input())
    xs = list(map(int, input().split()))
    g = 0
    for x in xs:
        g = gcd(g, x)
    print(g)


T = int(input())
for case in range(T):
    solve()
"""
CONTEST_STDIN = "3\n4\n12 18 30 42\n3\n7 14 21\n5\n9 27 81 36 45\n"
