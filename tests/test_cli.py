"""The `opencwm` command as users run it: a real subprocess."""

import json
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).parents[1] / "src/opencwm/examples"


def opencwm(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "opencwm", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
    )


def test_trace_cwm_and_jsonl(tmp_path):
    r = opencwm("trace", str(EXAMPLES / "count_vowels.py"), "--input", "'ab'")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("<|begin_of_text|>") and r.stdout.rstrip().endswith(
        "<|end_of_text|>"
    )
    out = tmp_path / "t.jsonl"
    r = opencwm(
        "trace",
        str(EXAMPLES / "count_vowels.py"),
        "--input",
        "'ab'",
        "--format",
        "jsonl",
        "--out",
        str(out),
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0]["status"] == "returned" and rows[-1]["arg"] == "{'a': 1}"
    assert set(rows[1]) == {"event", "line", "source", "func", "depth", "locals", "arg"}


def test_script_with_stdin_file(tmp_path):
    stdin = tmp_path / "in.txt"
    stdin.write_text("2\n5 9 1\n")
    r = opencwm(
        "trace", str(EXAMPLES / "running_max.py"), "--stdin", str(stdin), "--format", "jsonl"
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[0])["stdout"] == "9\n"


def one_line_error(r: subprocess.CompletedProcess, code: int, text: str) -> None:
    assert r.returncode == code
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], r.stderr


def test_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(:\n    pass\n")
    one_line_error(opencwm("trace", str(bad)), 2, "syntax error at line 1")
    one_line_error(opencwm("trace", str(tmp_path / "none.py")), 2, "does not exist")
    one_line_error(
        opencwm("trace", str(EXAMPLES / "count_vowels.py"), "--entry", "nope"),
        2,
        "defined: is_vowel, count_vowels",
    )
    one_line_error(
        opencwm("trace", str(EXAMPLES / "count_vowels.py"), "--input", "[1,"), 2, "bad input"
    )
    one_line_error(
        opencwm("trace", str(EXAMPLES / "count_vowels.py"), "--format", "xml"), 2, "unknown format"
    )


def test_timeout_writes_partial_trace_and_says_so(tmp_path):
    loop = tmp_path / "loop.py"
    loop.write_text(
        "import time\ndef f():\n    n = 0\n    while True:\n        n += 1\n"
        "        time.sleep(0.01)\n"
    )
    r = opencwm("trace", str(loop), "--entry", "f", "--timeout", "1", "--format", "jsonl")
    one_line_error(r, 3, "timed out")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert rows[0]["status"] == "truncated" and len(rows) > 5


def test_demo_runs_on_bundled_examples():
    r = opencwm("demo", "--frames", "5", "--max-frames", "8")
    assert r.returncode == 0, r.stderr
    assert "count_vowels" in r.stdout and "returned" in r.stdout
