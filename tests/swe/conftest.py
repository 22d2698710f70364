"""A tiny local library, its built tasks, and helpers to play scripted episodes.

The library is written to a temp folder and built with the real builder
(no network): clamp-like functions tested in tests/test_numbers.py, a
string helper tested in tests/test_words.py, so a bug in one leaves the
other test file visible in the workspace.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from swe_helpers import write_project

from opencwm.swe.builder import BuildConfig, build
from opencwm.swe.env import EnvConfig, SweEnv
from opencwm.swe.task import RepoStore, Task, load_tasks


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> tuple[list[Task], RepoStore, Path]:
    """(tasks, their repositories, the build folder): a handful of validated tasks."""
    base = tmp_path_factory.mktemp("swe")
    project = write_project(base / "tinylib")
    out = base / "build"
    manifest = build(
        BuildConfig(libs=[str(project)], out=out, max_per_lib=6, workers=2), log=lambda line: None
    )
    tasks = load_tasks(out / "tasks.jsonl")
    assert len(tasks) >= 4, manifest
    return tasks, RepoStore(out / "repos"), out


@pytest.fixture
def tasks(built) -> list[Task]:
    return built[0]


@pytest.fixture
def store(built) -> RepoStore:
    return built[1]


@pytest.fixture
def numbers_task(tasks) -> Task:
    """A task whose hidden tests are test_numbers.py (test_words.py stays visible)."""
    for t in tasks:
        if t.test_patch.count("diff --git") == 1 and "tests/test_numbers.py" in t.test_patch:
            return t
    pytest.fail(f"no task hides only tests/test_numbers.py: {[t.meta for t in tasks]}")


@pytest.fixture
def make_env(store, tmp_path):
    """SweEnv factory with test-sized limits; closes what it made."""
    made: list[SweEnv] = []

    def factory(**overrides) -> SweEnv:
        settings = {"command_timeout_s": 10, "test_timeout_s": 60, "scratch": tmp_path}
        config = EnvConfig(**{**settings, **overrides})
        env = SweEnv(store, config)
        made.append(env)
        return env

    yield factory
    for env in made:
        env.close()
