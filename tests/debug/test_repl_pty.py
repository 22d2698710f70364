"""The REPL through a real pseudo-terminal (pexpect): scripted transcripts
of every command, bad ones included, as a person would type them; then
`opencwm debug` itself, on the real world and on the bundled model."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pexpect
import pytest
from sample_programs import NESTED

from opencwm.world import bundled_model

HERE = Path(__file__).parent
PROMPT = "(cwm) "
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[=>]")


class Terminal:
    """A program in a pty, spoken to one command at a time."""

    def __init__(self, argv: list[str], env: dict[str, str], timeout: float = 30) -> None:
        self.child = pexpect.spawn(
            argv[0], argv[1:], env=env, encoding="utf-8", timeout=timeout, dimensions=(50, 160)
        )
        self.start = self.read()

    def read(self) -> str:
        self.child.expect_exact(PROMPT)
        return ANSI.sub("", self.child.before).replace("\r", "")

    def send(self, text: str) -> str:
        """Type a line; what came back before the next prompt, the echo removed."""
        self.child.send(text + "\r")
        out = self.read()
        return out.split("\n", 1)[1] if "\n" in out else ""

    def close(self) -> int:
        self.child.expect(pexpect.EOF)
        self.child.close()
        return self.child.exitstatus


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "TERM": "xterm-256color",
        "COLUMNS": "160",
        "PYTHONPATH": os.pathsep.join((str(HERE), str(HERE.parent))),  # + sample_programs
        "OMP_NUM_THREADS": "1",
    }


def driver(kind: str, env: dict[str, str], tmp_path: Path) -> Terminal:
    hist = tmp_path / "history"
    return Terminal([sys.executable, str(HERE / "repl_driver.py"), kind, str(hist)], env)


def test_every_command_in_a_scripted_session(env, tmp_path):
    t = driver("oracle", env, tmp_path)
    assert "[0] squares:5  call" in t.start and "xs = [2, 3]" in t.start
    assert "   5  -> def squares(xs):" in t.send("l")
    assert "   6 ->     out = []" in t.send("s")
    out = t.send("step")
    assert "[2] squares:7" in out and "out = []" in out
    t.send("s")
    out = t.send("n")  # over sq(2): its return value, then the loop line
    assert "[6] squares:7" in out and "out = [4]" in out
    assert t.send("p out").strip() == "out = [4]"
    assert t.send("p").split() == ["xs", "=", "[2,", "3]", "out", "=", "[4]", "x", "=", "2"]
    assert t.send("w").strip() == "> squares:7  for x in xs:"
    assert "breakpoint at line 2: return x * x" in t.send("b 2")
    assert t.send("b").strip() == "breakpoints: 2"
    out = t.send("c")
    assert "breakpoint at line 2" in out and "[9] sq:2" in out
    assert t.send("bt").splitlines() == [
        "  squares:8  out.append(sq(x))",
        "> sq:2  return x * x",
    ]
    out = t.send("r")
    assert "[10] sq:2  return" in out and "→ 9" in out
    assert "*** this is a return frame" in t.send("set x = 1")
    assert t.send("cl 2").strip() == "cleared breakpoints at 2"
    out = t.send("s")
    assert "[11] squares:7" in out and "out = [4, 9]" in out
    assert t.send("set out = [1]").strip() == "out = [1]"
    assert "[12] squares:9" in t.send("s")
    assert t.send("p out").strip() == "out = [1]"  # the model goes on from the edited state
    assert "undid the last frame" in t.send("back")
    out = t.send("back")
    assert "undid the last edit" in out and "out = [4, 9]" in t.send("p out")
    out = t.send("truth on")
    assert "truth on: the real run returned [4, 9] after 15 frames" in out
    out = t.send("c")
    assert "--the execution ended: returned [4, 9]--" in out and "✗" not in out
    assert "*** the execution has ended" in t.send("s")
    out = t.send("reset [5]")
    assert "started again on squares([5])" in out and "xs = [5]" in out
    assert "resampled (seed 1, temperature 0.8)" in t.send("reset")
    assert "truth off" in t.send("truth off")
    for bad, error in [
        ("foo", "*** unknown command 'foo'; `help` lists them"),
        ("b 99", "*** line 99 is outside the program (lines 1-9)"),
        ("b 3", "*** line 3 is blank or a comment"),
        ("cl 4", "*** no breakpoint at line 4"),
        ("p zz", "*** no local 'zz' here; known: xs"),
        ("set x", "*** usage: set VAR = EXPR"),
        ("set x = os.system('ls')", "is not a Python literal"),
        ("truth maybe", "*** usage: truth on | truth off"),
        ("l abc", "*** expected a line number, got 'abc'"),
        ("reset 1,,", "*** bad input"),
        ("back", "*** at the first frame: nothing to undo"),
    ]:
        assert error in t.send(bad), bad
    assert "Commands (help COMMAND for more)" in t.send("help")
    assert "Step over" in t.send("help n")
    t.send("s")
    assert "[2] squares:7" in t.send("")  # an empty line repeats the last command, as in pdb
    assert "[3] squares:8" in t.send("\x1b[A")  # readline history: up-arrow, the last command
    t.child.send("q\r")
    assert t.close() == 0
    history = (tmp_path / "history").read_text()
    assert "truth on" in history and "set out = [1]" in history


def test_changed_values_and_the_current_line_are_highlighted(env, tmp_path):
    t = driver("oracle", env, tmp_path)
    t.child.send("s\r")
    t.child.expect_exact(PROMPT)
    t.child.send("s\r")
    t.child.expect_exact(PROMPT)
    raw = t.child.before
    assert re.search(r"\x1b\[1m\s*7 -> ", raw)  # the current line in bold
    assert re.search(r"\x1b\[1;33m\s*out = \[\]", raw)  # a changed value in bold yellow
    t.child.sendeof()
    assert t.close() == 0


def test_an_invalid_frame_is_shown_and_the_session_goes_on(env, tmp_path):
    t = driver("invalid", env, tmp_path)
    out = t.send("s")
    assert "✗ invalid frame from the model: the reply does not end with <|frame_sep|>" in out
    assert "raw: 'garbage'" in out
    assert "[1] squares:6" in t.send("s")  # asked again
    t.child.send("q\r")
    assert t.close() == 0


def test_a_backend_that_fails_gives_one_line_and_a_retry(env, tmp_path):
    t = driver("flaky", env, tmp_path)
    out = t.send("s")
    assert out.strip() == (
        "*** http://127.0.0.1:9/v1/completions did not answer within 5s; "
        "nothing changed: repeat the command to retry"
    )
    assert "Traceback" not in out
    assert "[1] squares:6" in t.send("s")
    t.child.send("q\r")
    assert t.close() == 0


def test_truth_marks_a_wrong_value(env, tmp_path):
    t = driver("wrong", env, tmp_path)
    t.send("truth on")
    assert "✗" not in t.send("s")
    out = t.send("s")
    assert "out = [0]  ✗ real: []" in out
    t.child.send("q\r")
    assert t.close() == 0


def test_opencwm_debug_on_the_real_world(env, tmp_path):
    prog = tmp_path / "prog.py"
    prog.write_text(NESTED + '\n# input: "[2, 3]"\n')
    cli = [sys.executable, "-m", "opencwm", "debug", str(prog), "--entry", "squares", "--real"]
    t = Terminal(cli, env)
    assert "debugging prog.py :: squares([2, 3]), real run" in t.start
    t.send("s")
    t.send("s")
    t.send("s")
    out = t.send("n")
    assert "[6] squares:7" in out and "out = [4]" in out
    assert "cannot take an edited state" in t.send("set out = []")
    assert "returned [4, 9]" in t.send("c")
    t.child.sendeof()
    assert t.close() == 0


@pytest.mark.slow
@pytest.mark.skipif(not (bundled_model() / "config.json").exists(), reason="no bundled model")
def test_opencwm_debug_with_the_bundled_model(env, tmp_path):
    """Smoke: the real model answers (a frame or an invalid one: a tiny
    model's text), and the session survives either. Slow: torch and the
    model load in the child (5 s on a quiet machine, minutes on a busy one)."""
    prog = tmp_path / "prog.py"
    prog.write_text(
        "def total(n):\n    s = 0\n    for i in range(n):\n        s += i\n    return s\n"
    )
    cli = [sys.executable, "-m", "opencwm", "debug", str(prog), "--entry", "total", "--input", "3"]
    t = Terminal(cli, env, 300)
    assert "imagined by cwm-tiny" in t.start and "[0] total:1  call" in t.start
    for _ in range(3):
        out = t.send("s")
        assert re.search(r"\[\d+\] total:\d+", out) or "invalid frame from the model" in out, out
        assert "Traceback" not in out
    t.child.send("q\r")
    assert t.close() == 0
