"""The task schema: SWE-bench fields plus test_cmd, JSON and JSONL round trips."""

from __future__ import annotations

import json

import pytest

from opencwm.swe.task import FORMAT_VERSION, RepoStore, Task, load_tasks, save_tasks

ROW = {
    "instance_id": "lib-1",
    "repo": "pypi/lib",
    "base_commit": "0" * 40,
    "problem_statement": "it breaks",
    "patch": "diff --git a/x b/x\n",
    "test_patch": "diff --git a/t b/t\n",
    "FAIL_TO_PASS": ["t.py::test_a"],
    "PASS_TO_PASS": ["t.py::test_b"],
    "version": "1.0",
}


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_round_trip(tmp_path, suffix):
    tasks = [Task.from_dict(ROW), Task.from_dict({**ROW, "instance_id": "lib-2"})]
    save_tasks(tasks, tmp_path / f"tasks{suffix}")
    assert load_tasks(tmp_path / f"tasks{suffix}") == tasks


def test_saved_rows_carry_the_format_version_and_test_cmd(tmp_path):
    save_tasks([Task.from_dict(ROW)], tmp_path / "t.jsonl")
    row = json.loads((tmp_path / "t.jsonl").read_text())
    assert row["format_version"] == FORMAT_VERSION and row["test_cmd"] == "python -m pytest"


def test_swe_bench_rows_with_json_encoded_lists_load():
    task = Task.from_dict({**ROW, "FAIL_TO_PASS": '["t.py::test_a"]', "version": 1.0})
    assert task.FAIL_TO_PASS == ["t.py::test_a"] and task.version == "1.0"


def test_missing_fields_are_named():
    with pytest.raises(ValueError, match="lacks FAIL_TO_PASS, patch; a task needs"):
        Task.from_dict({k: v for k, v in ROW.items() if k not in ("patch", "FAIL_TO_PASS")})


def test_a_newer_format_is_refused():
    with pytest.raises(ValueError, match="newer"):
        Task.from_dict({**ROW, "format_version": FORMAT_VERSION + 1})


def test_unknown_repository_lists_the_known_ones(tmp_path):
    (tmp_path / "other.git").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no repository 'lib'.*known: other"):
        RepoStore(tmp_path).export(Task.from_dict(ROW), tmp_path / "out")
