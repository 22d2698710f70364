"""`opencwm debug`'s flags: one-line errors with a non-zero exit for bad
files, arguments and endpoints (before any model loads)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from sample_programs import SRC
from typer.testing import CliRunner

from opencwm.cli import app
from opencwm.debug.cli import file_input


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def prog(tmp_path: Path) -> Path:
    p = tmp_path / "prog.py"
    p.write_text(SRC)
    return p


def run(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(app, ["debug", *args])
    return r.exit_code, r.output


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["missing.py"], "error: file 'missing.py' does not exist"),
        (["{prog}", "--entry", "nope", "--real"], "no top-level function 'nope'"),
        (["{prog}", "--entry", "total", "--input", "1,,", "--real"], "bad input '1,,'"),
        (["{prog}", "--input", "3", "--real"], "nothing marks an entry function"),
        (["{prog}", "--model", "m", "--endpoint", "http://x"], "give --model or --endpoint"),
        (["{prog}", "--real", "--model", "m"], "--real steps through the real run"),
        (["{prog}", "--port", "0", "--web"], "--port 0 is not a port number"),
        (["{prog}", "--model", "{prog}"], "is not a model directory"),
    ],
)
def test_bad_files_and_arguments_are_one_line_errors(prog, args, error):
    code, out = run(*[a.format(prog=prog) for a in args])
    assert code == 2 and error in out and len(out.strip().splitlines()) == 1, out


def test_a_syntax_error_names_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(:\n    pass\n")
    code, out = run(str(bad), "--real")
    assert code == 2 and out.strip() == f"error: {bad}: syntax error at line 1: invalid syntax"


def test_an_endpoint_that_is_down_is_one_line(prog):
    url = f"http://127.0.0.1:{free_port()}/v1"
    code, out = run(str(prog), "--entry", "total", "--input", "3", "--endpoint", url)
    assert code == 2 and out.startswith("error: cannot reach") and len(out.splitlines()) == 1


def test_a_busy_port_is_one_line(prog):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        code, out = run(str(prog), "--real", "--web", "--port", str(s.getsockname()[1]))
    assert code == 2 and out.startswith("error: cannot listen on 127.0.0.1:")


def test_the_file_may_give_its_input_and_stdin():
    src = '# input: "[1, 2]"\n# stdin: "3\\n"\n# input: 5\n'
    assert file_input(src) == ("[1, 2]", "3\n")
    assert file_input(SRC) == (None, None)
