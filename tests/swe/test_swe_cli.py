"""`opencwm swe build` and `opencwm swe run` as users run them: real subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys

from swe_helpers import write_project


def opencwm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "opencwm", "swe", *args], capture_output=True, text=True, timeout=300
    )


def test_build_then_run_oracle_and_null(tmp_path):
    project = write_project(tmp_path / "tinylib")
    out = tmp_path / "tasks"
    r = opencwm("build", "--libs", str(project), "--out", str(out), "--max-per-lib", "3")
    assert r.returncode == 0, r.stderr
    assert "tinylib 0: 3 tasks" in r.stdout and "tasks.jsonl: 3 tasks" in r.stdout

    runs = tmp_path / "oracle.jsonl"
    tasks = str(out / "tasks.jsonl")
    r = opencwm("run", "--tasks", tasks, "--agent", "oracle", "--workers", "2", "--out", str(runs))
    assert r.returncode == 0, r.stderr
    assert "100.0%" in r.stdout and "local/tinylib" in r.stdout
    rows = [json.loads(line) for line in runs.read_text().splitlines()]
    assert len(rows) == 3 and all(row["resolved"] for row in rows)
    first = rows[0]
    assert first["format_version"] == 1 and first["agent"] == "oracle"
    assert {"prompt", "system", "turns", "verdict", "duration_s", "reward_s"} <= first.keys()
    assert {"action", "observation", "tool", "tool_s", "agent_s"} <= first["turns"][0].keys()
    assert all(  # the raw log, for log-based graders
        f"PASSED {t}" in row["verdict"]["tests"]["log"]
        for row in rows
        for t in row["verdict"]["fail_to_pass"]
    )

    r = opencwm("run", "--tasks", tasks, "--agent", "null", "--out", str(tmp_path / "n.jsonl"))
    assert r.returncode == 0 and "0.0%" in r.stdout


def test_clear_errors(tmp_path):
    r = opencwm("run", "--tasks", str(tmp_path / "nope.jsonl"))
    assert r.returncode == 2 and "does not exist" in r.stderr
    (tmp_path / "t.jsonl").write_text("{}\n")
    r = opencwm("run", "--tasks", str(tmp_path / "t.jsonl"), "--agent", "smart")
    assert r.returncode == 2 and "unknown agent 'smart'; known: oracle, null, llm" in r.stderr
    r = opencwm("run", "--tasks", str(tmp_path / "t.jsonl"))
    assert r.returncode == 2 and "lacks" in r.stderr
    (tmp_path / "empty").mkdir()
    r = opencwm("build", "--libs", str(tmp_path / "empty"), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "ships no tests" in r.stderr
