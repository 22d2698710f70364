"""The task builder on the tiny local library (no network)."""

from __future__ import annotations

import json

import pytest

from opencwm.swe.builder import BuildConfig, build
from opencwm.swe.fetch import FetchError, fetch
from opencwm.swe.task import git, load_tasks
from opencwm.swe.workspace import file_diff


def test_every_task_has_failing_and_passing_tests(tasks):
    for t in tasks:
        assert t.FAIL_TO_PASS and t.PASS_TO_PASS, t.instance_id
        assert not set(t.FAIL_TO_PASS) & set(t.PASS_TO_PASS)
        hidden = {i.split("::")[0] for i in t.FAIL_TO_PASS + t.PASS_TO_PASS}
        assert all(f"+++ b/{f}" in t.test_patch for f in hidden)


def test_base_commit_is_the_bug_without_hidden_tests_on_top_of_the_pristine_import(tasks, store):
    for t in tasks:
        repo = str(store.path(t.name))
        files = git("--git-dir", repo, "ls-tree", "-r", "--name-only", t.base_commit).decode()
        for hidden in {i.split("::")[0] for i in t.FAIL_TO_PASS}:
            assert hidden not in files.split()
        parent = git("--git-dir", repo, "rev-parse", f"{t.base_commit}^").decode().strip()
        assert parent == t.environment_setup_commit
        assert git("--git-dir", repo, "rev-list", "--count", parent).decode().strip() == "1"


def test_issue_text_names_failures_but_never_the_fix(tasks):
    for t in tasks:
        text = t.problem_statement
        assert all(i in text for i in t.FAIL_TO_PASS[:8])
        assert t.meta["path"] not in text and t.meta["operator"] not in text
        changed = [
            line[1:].strip()
            for line in t.patch.splitlines()
            if line[:1] in "+-" and not line.startswith(("+++", "---")) and line[1:].strip()
        ]
        assert not any(c in text for c in changed if len(c) > 8), (t.instance_id, changed)


def test_patches_are_unique_and_reverse_the_bug(tasks):
    assert len({t.patch for t in tasks}) == len(tasks)
    for t in tasks:
        assert t.patch.count("diff --git") == 1 and t.meta["path"] in t.patch


def test_manifest_counts_and_a_rerun_skips_finished_libraries(built, tmp_path):
    tasks, _, out = built
    manifest = json.loads((out / "manifest.json").read_text())
    lib = manifest["libraries"]["tinylib"]
    assert manifest["tasks"] == len(tasks) == lib["tasks"]
    assert lib["stable_tests"] == 10 and lib["mutants_tried"] >= lib["tasks"]
    lines: list[str] = []
    again = build(BuildConfig(libs=[lib["spec"]], out=out), log=lines.append)
    assert lines == [f"tinylib: {len(tasks)} tasks already built (use force to rebuild)"]
    assert again["libraries"]["tinylib"] == lib
    assert load_tasks(out / "tasks.jsonl") == tasks


FLAKY = {
    "coin/__init__.py": "def double(x):\n    return x * 2\n",
    "tests/test_coin.py": (
        "import pathlib\nfrom coin import double\n\n"
        "def test_double():\n    assert double(2) == 4\n\n"
        "def test_double_zero():\n    assert double(0) == 0\n\n"
        "def test_coin():  # passes, then fails, then passes...\n"
        "    p = pathlib.Path(__file__).with_name('count')\n"
        "    n = int(p.read_text()) if p.exists() else 0\n"
        "    p.write_text(str(n + 1))\n"
        "    assert n % 2 == 0 and double(1) == 2\n"
    ),
}


def test_a_test_that_does_not_pass_three_times_out_of_three_is_dropped(tmp_path):
    for rel, text in FLAKY.items():
        (tmp_path / "coin" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "coin" / rel).write_text(text)
    out = tmp_path / "out"
    config = BuildConfig(libs=[str(tmp_path / "coin")], out=out, max_per_lib=2, validate=False)
    manifest = build(config, log=lambda line: None)
    assert manifest["libraries"]["coin"]["stable_tests"] == 2
    tasks = load_tasks(out / "tasks.jsonl")
    assert tasks and all("::test_coin" not in " ".join(t.PASS_TO_PASS) for t in tasks)


def test_projects_without_tests_or_already_installed_are_refused(tmp_path):
    (tmp_path / "empty" / "pkg").mkdir(parents=True)
    (tmp_path / "empty" / "pkg" / "__init__.py").write_text("X = 1\n")
    with pytest.raises(FetchError, match="ships no tests"):
        fetch(str(tmp_path / "empty"), tmp_path / "cache")
    installed = tmp_path / "typer"
    (installed / "typer").mkdir(parents=True)
    (installed / "typer" / "__init__.py").write_text("X = 1\n")
    (installed / "test_typer.py").write_text("def test_x():\n    pass\n")
    with pytest.raises(FetchError, match="installed in this Python"):
        fetch(str(installed), tmp_path / "cache")


def test_file_diff_round_trips_through_git_apply(tmp_path):
    from opencwm.swe.workspace import apply_patch

    (tmp_path / "a.py").write_text("x = 1\ny = 2")  # no newline at the end
    apply_patch(tmp_path, file_diff("a.py", b"x = 1\ny = 2", b"x = 1\ny = 3\n"))
    apply_patch(tmp_path, file_diff("new.py", None, b"z = 0\n"))
    assert (tmp_path / "a.py").read_text() == "x = 1\ny = 3\n"
    assert (tmp_path / "new.py").read_text() == "z = 0\n"


def test_tests_whose_ids_change_between_runs_are_dropped(monkeypatch, tmp_path):
    """Parametrize ids built from an unordered set (isodate's tests) differ per run."""
    from opencwm.swe import builder
    from opencwm.swe.fetch import Project
    from opencwm.swe.testrun import TestRun

    runs = iter(
        [
            {"t.py::test_a": "passed", "t.py::test_set[x-v0]": "passed", "t.py::test_b": "passed"},
            {"t.py::test_a": "passed", "t.py::test_set[y-v0]": "passed", "t.py::test_b": "failed"},
            {"t.py::test_a": "passed"},
        ]
    )
    monkeypatch.setattr(builder, "run_tests", lambda *a, **k: TestRun(next(runs), exit_code=0))
    (tmp_path / "t.py").write_text("")
    project = Project("p", "0", "local/p", tmp_path, [], ["t.py"])
    stable, _ = builder._stable_tests(project, 3)
    assert stable == {"t.py::test_a": "t.py"}
