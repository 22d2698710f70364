"""`opencwm predict` as users run it: a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

from micro_cwm import SRC, free_port

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "160", "PYTHONIOENCODING": "utf-8"}


def opencwm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "opencwm", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=ENV,
    )


def test_predict_compare_marks_the_first_divergence(micro_model, tmp_path):
    program = tmp_path / "total.py"
    program.write_text(SRC)
    r = opencwm(
        "predict", str(program), "--entry", "total", "--model", str(micro_model),
        "--input", "5", "--compare", "--max-frames", "25",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    marked = [line for line in lines if "◀ first divergence" in line]
    assert len(marked) == 1, r.stdout
    assert any(line.startswith("real:") and "returned 10" in line for line in lines), r.stdout
    assert any(line.startswith("match:") for line in lines), r.stdout


def one_line_error(r: subprocess.CompletedProcess, says: str) -> None:
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], r.stderr


def test_predict_errors_are_one_line(tmp_path):
    program = tmp_path / "total.py"
    program.write_text(SRC)
    one_line_error(
        opencwm("predict", str(program), "--model", str(tmp_path / "nope")),
        "is not a model directory",
    )
    dead = f"http://127.0.0.1:{free_port()}/v1"
    one_line_error(opencwm("predict", str(program), "--endpoint", dead), "cannot reach")
