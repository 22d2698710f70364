"""Helpers the SWE tests share (a uniquely named module: tests/ has no packages)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from opencwm.swe.env import SweEnv
from opencwm.swe.task import Task
from opencwm.transition import Transition


def play(env: SweEnv, task: Task, actions: list, tool_format: str = "text") -> list[Transition]:
    """Reset, then step through `actions` (submitting at the end if still running)."""
    out = [env.reset(task, tool_format)]
    for action in [*actions, "<tool: submit>\n</tool>"]:
        if out[-1].terminal:
            break
        out.append(env.step(action))
    return out


def bash(command: str) -> str:
    return f"<tool: bash>\n{command}\n</tool>"


def summary_statuses(log: str) -> dict[str, str]:
    """The `-rA` summary lines a log-based grader reads: `STATUS id [- message]`."""
    out = {}
    for line in log.splitlines():
        words = line.split()
        if len(words) > 1 and words[0] in ("PASSED", "FAILED", "ERROR", "SKIPPED"):
            out[words[1]] = words[0]
    return out


LIB = {
    # like isodate's generated version.py: ignored by git, needed by the code
    ".gitignore": "tinylib/words.py\n",
    "tinylib/__init__.py": '''
        """A tiny library to inject bugs into."""


        def clamp(x, lo, hi):
            if x < lo:
                return lo
            if x > hi:
                return hi
            return x


        def total(xs):
            s = 0
            for x in xs:
                s += x
            return s


        def mean(xs):
            if not xs:
                return 0.0
            return total(xs) / len(xs)
        ''',
    "tinylib/words.py": """
        def shout(word, times=1):
            out = word.upper()
            for _ in range(times - 1):
                out = out + " " + word.upper()
            return out
        """,
    "tests/test_numbers.py": """
        from tinylib import clamp, mean, total


        def test_clamp_low():
            assert clamp(-1, 0, 10) == 0


        def test_clamp_high():
            assert clamp(11, 0, 10) == 10


        def test_clamp_mid():
            assert clamp(5, 0, 10) == 5


        def test_total():
            assert total([1, 2, 3]) == 6


        def test_total_empty():
            assert total([]) == 0


        def test_mean():
            assert mean([2, 4]) == 3.0


        def test_mean_empty():
            assert mean([]) == 0.0
        """,
    "tests/test_words.py": """
        from tinylib.words import shout


        def test_shout_once():
            assert shout("hi") == "HI"


        def test_shout_twice():
            assert shout("hi", 2) == "HI HI"


        def test_shout_empty():
            assert shout("") == ""
        """,
}


def write_project(root: Path) -> Path:
    for rel, text in LIB.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root
