"""The synthetic source: valid, unique, deterministic, terminating, covering.

The module fixture generates 2,000 default items once (a few seconds); the
run checks execute a sample of them here, untraced and in-process, each
under a one-second alarm, independently of the generator's own check.
"""

from __future__ import annotations

import ast
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from statistics import mean

import pytest

import opencwm.data.synthetic as synthetic
from opencwm.data.synthetic import (
    Knobs,
    Stats,
    coverage,
    features_of,
    generate,
    missing_features,
    resolve,
    stream,
)
from opencwm.data.synthetic.check import FILENAME, run

N_COVERAGE = 2000
SAMPLE = 300  # items run in-process by the tests


@pytest.fixture(scope="module")
def items() -> list[synthetic.SyntheticItem]:
    return generate(N_COVERAGE, seed=0)


class _Alarm(BaseException):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise _Alarm


def execute(code: str, input: str, budget_s: float = 1.0) -> tuple[str, str]:
    """Run `f(<input>)` untraced; ('returned', repr) or ('raised', type name)."""
    namespace: dict[str, object] = {}
    exec(compile(code, "<item>", "exec"), namespace)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, budget_s)
    try:
        result = eval(f"f({input})", namespace)
    except _Alarm:
        return "timeout", ""
    except Exception as exc:
        return "raised", type(exc).__name__
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return "returned", repr(result)


def test_public_api_is_exported():
    for name in synthetic.__all__:
        assert hasattr(synthetic, name), name


def test_items_parse_and_are_unique(items):
    assert len(items) == N_COVERAGE
    for item in items:
        tree = ast.parse(item.code)
        assert any(isinstance(n, ast.FunctionDef) and n.name == "f" for n in tree.body)
        ast.parse(f"f({item.input})", mode="eval")
        assert item.entry == "f"
    assert len({i.id for i in items}) == len(items)
    assert len({(i.code, i.input) for i in items}) == len(items)


def test_same_seed_same_items_other_seed_other_items():
    a, b = generate(150, seed=5), generate(150, seed=5)
    assert [(i.id, i.code, i.input) for i in a] == [(i.id, i.code, i.input) for i in b]
    assert {i.id for i in generate(150, seed=6)}.isdisjoint({i.id for i in a})


DIGEST = (
    "import hashlib\n"
    "from opencwm.data.synthetic import generate\n"
    "text = ''.join(i.id + i.code + i.input for i in generate(150, seed=3))\n"
    "print(hashlib.sha256(text.encode()).hexdigest())\n"
)


def test_same_items_in_other_processes_whatever_the_hash_seed():
    digests = set()
    for hash_seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run(
            [sys.executable, "-c", DIGEST], env=env, capture_output=True, text=True, check=True
        )
        digests.add(out.stdout.strip())
    text = "".join(i.id + i.code + i.input for i in generate(150, seed=3))
    assert digests == {hashlib.sha256(text.encode()).hexdigest()}


def test_runs_terminate_are_deterministic_and_rarely_raise(items):
    sample = items[:: N_COVERAGE // SAMPLE][:SAMPLE]
    start = time.perf_counter()
    first = [execute(i.code, i.input) for i in sample]
    elapsed = time.perf_counter() - start
    second = [execute(i.code, i.input) for i in sample]
    assert first == second, "a program gave different results on two runs"
    statuses = Counter(status for status, _ in first)
    assert statuses["timeout"] == 0
    assert elapsed < 10, f"{SAMPLE} runs took {elapsed:.1f}s"
    rate = statuses["raised"] / len(sample)
    assert 0.02 <= rate <= 0.15, f"error rate {rate:.1%} outside the intended band"
    errors = Counter(detail for status, detail in first if status == "raised")
    assert set(errors) <= {"ValueError", "KeyError", "IndexError"}, errors


def test_full_coverage_on_2000_items(items):
    counts = coverage(items)
    assert missing_features(counts) == []
    assert counts["syntax:for"] > N_COVERAGE // 2


def test_generator_net_rarely_fires_on_generator_bugs():
    stats = Stats()
    it = stream(seed=1, stats=stats)
    for _ in range(600):
        next(it)
    assert stats.rejected["syntax"] == 0, stats.unplanned_errors
    assert stats.rejected["unplanned_error"] <= 2, stats.unplanned_errors
    assert stats.accepted == 600
    assert stats.rate("too_long") + stats.rate("too_short") < 0.25, stats.rejected


def _size(items: list[synthetic.SyntheticItem]) -> float:
    return mean(sum(1 for _ in ast.walk(ast.parse(i.code))) for i in items)


def test_knobs_change_the_size_distribution():
    easy, hard = generate(120, seed=2, knobs="easy"), generate(120, seed=2, knobs="hard")
    assert _size(hard) > 2 * _size(easy)
    small = generate(60, seed=2, max_list_len=2, max_str_len=3, max_int=5)
    for item in small:
        for arg in ast.parse(f"f({item.input})", mode="eval").body.args:
            value = ast.literal_eval(arg)
            if isinstance(value, (list, tuple, dict)):
                assert len(value) <= 2, item.input
            if isinstance(value, set):
                assert len(value) <= 3, item.input
            for x in _scalars(value):
                assert len(x) <= 3 if isinstance(x, str) else abs(x) <= 5, item.input


def _scalars(value: object) -> list:
    if isinstance(value, dict):
        return _scalars([*value, *value.values()])
    if isinstance(value, (list, tuple, set)):
        return [x for v in value for x in _scalars(v)]
    return [value]


def test_trace_lengths_stay_in_the_band():
    k = resolve("medium")
    for item in generate(100, seed=4):
        code = compile(item.code, FILENAME, "exec")
        args = eval(f"(lambda *a: a)({item.input})")
        out = run(code, args, 10 * k.max_lines)
        assert out.status in ("returned", "raised")
        assert k.min_lines <= out.lines <= k.max_lines


def test_features_are_read_from_the_code():
    code = (
        "def g(n):\n"
        "    return 0 if n <= 0 else g(n - 1)\n"
        "\n"
        "def f(d, s):\n"
        "    def h(x):\n"
        "        return x\n"
        "    if s:\n"
        "        pass\n"
        "    elif d:\n"
        "        d.pop('a', None)\n"
        "    line = '-' * 3\n"
        "    return g(2), h(s), line\n"
    )
    found = features_of(code, "{'a': 1}, 'x'")
    for f in (
        "syntax:recursion",
        "syntax:helper_function",
        "syntax:nested_function",
        "syntax:elif",
        "method:dict.pop",
        "op:str_mult",
        "value:dict",
        "syntax:ternary",
    ):
        assert f in found, f
    assert "syntax:else" not in found
    assert "syntax:while" not in found


def test_check_run_caps_runaway_programs():
    loop = compile("def f():\n    while True:\n        pass\n", FILENAME, "exec")
    assert run(loop, (), 50).status == "too_long"
    grow = compile("def f(s):\n    while True:\n        s += s\n", FILENAME, "exec")
    assert run(grow, ("ab",), 10_000).status == "too_big"


def test_bad_presets_and_knobs_say_what_exists():
    with pytest.raises(ValueError, match="known: easy, medium, hard"):
        resolve("hardest")
    with pytest.raises(ValueError, match="max_depth"):
        resolve("easy", max_dept=1)
    assert resolve("easy", max_int=3).max_int == 3
    assert resolve(Knobs(max_depth=1)).max_depth == 1


@pytest.mark.slow
def test_items_trace_through_the_real_tracer():
    from opencwm.tracer.api import trace_program

    for item in generate(12, seed=9):
        trace = trace_program(item.code, entry="f", input=item.input)
        assert trace.status in ("returned", "raised"), (trace.status, trace.reason, item.code)
        assert 0 < len(trace.frames) < 1000
