"""SWE tasks in SWE-bench's instance schema, and the repositories they point at.

A task is one bug: `base_commit` is the buggy tree the agent starts from
(hidden tests already removed), `patch` is the gold fix, `test_patch` adds
the hidden tests back, and `FAIL_TO_PASS` / `PASS_TO_PASS` are the pytest
ids that decide the reward. `test_cmd` is ours: how to run the tests by hand.

Loading accepts SWE-bench's own files too, where the test lists are
JSON-encoded strings. Tasks are saved one JSON object per line with
`format_version`; the repositories live beside them in `repos/NAME.git`
(bare git repositories, one pristine commit plus one commit per task under
`refs/tasks/`), so a task file and its `repos/` folder are all a run needs.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import threading
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Task:
    """One SWE-bench-style instance plus our `test_cmd`."""

    instance_id: str
    repo: str  # "pypi/NAME" for sdists, "local/NAME" for local projects
    base_commit: str  # the buggy tree, hidden tests removed
    problem_statement: str
    patch: str  # the gold fix, a unified diff against base_commit
    test_patch: str  # adds the hidden tests, a unified diff against base_commit
    FAIL_TO_PASS: list[str]
    PASS_TO_PASS: list[str]
    version: str
    test_cmd: str = "python -m pytest"
    hints_text: str = ""
    created_at: str = ""
    environment_setup_commit: str = ""
    meta: dict = field(default_factory=dict)  # builder details: mutation kind, file, timings

    @property
    def name(self) -> str:
        """The repository's short name, which is also its folder under repos/."""
        return self.repo.rsplit("/", 1)[-1]

    def to_dict(self) -> dict:
        """The saved row: our fields, plus those SWE-bench 5.x's harness reads
        (`log_parser`, `eval_type`, `eval_script`), derived, so loading drops them."""
        from opencwm.swe.swebench_fields import swebench_fields

        return {"format_version": FORMAT_VERSION, **asdict(self), **swebench_fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> Task:
        known = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.default is f.default_factory is MISSING}
        missing = sorted(required - d.keys())
        if missing:
            raise ValueError(
                f"task {d.get('instance_id', '?')!r} lacks {', '.join(missing)}; "
                f"a task needs: {', '.join(sorted(required))}"
            )
        version = d.get("format_version", FORMAT_VERSION)
        if version > FORMAT_VERSION:
            raise ValueError(f"task format {version} is newer than this opencwm ({FORMAT_VERSION})")
        kw = {k: v for k, v in d.items() if k in known}
        for key in ("FAIL_TO_PASS", "PASS_TO_PASS"):
            if isinstance(kw[key], str):  # SWE-bench on the Hub stores JSON strings
                kw[key] = json.loads(kw[key])
        kw["version"] = str(kw["version"])
        return cls(**kw)


def load_tasks(path: Path) -> list[Task]:
    """Tasks from a .jsonl file (one per line) or a .json file (a list)."""
    text = Path(path).read_text(encoding="utf-8")
    if str(path).endswith(".json"):
        rows = json.loads(text)
    else:
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [Task.from_dict(r) for r in rows]


def save_tasks(tasks: list[Task], path: Path) -> None:
    """Write tasks as .jsonl (default) or, for a .json path, one JSON list."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if str(path).endswith(".json"):
        text = json.dumps([t.to_dict() for t in tasks], indent=1) + "\n"
    else:
        text = "".join(json.dumps(t.to_dict()) + "\n" for t in tasks)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


GIT_ENV = {
    "GIT_AUTHOR_NAME": "opencwm",
    "GIT_AUTHOR_EMAIL": "swe@opencwm.invalid",
    "GIT_COMMITTER_NAME": "opencwm",
    "GIT_COMMITTER_EMAIL": "swe@opencwm.invalid",
    "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
}
"""Fixed identity and dates: the same tree always gets the same commit id."""


def git(*args: str, cwd: Path | None = None, stdin: bytes | None = None) -> bytes:
    """Run host git on our own (trusted) repositories; raise with its stderr."""
    env = {**os.environ, **GIT_ENV}
    if cwd is not None:  # never climb into an enclosing repository
        env["GIT_CEILING_DIRECTORIES"] = str(Path(cwd).resolve().parent)
    proc = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, env=env)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"git {' '.join(args[:2])} failed: {err}")
    return proc.stdout


def commit_tree(repo: Path, tree_dir: Path, message: str, parent: str | None = None) -> str:
    """Commit the files of `tree_dir` into bare `repo` (parent optional); return the id.

    Every file, --force: an sdist's own .gitignore may name generated files
    it ships (isodate's version.py) that the code cannot import without.
    """
    repo, tree_dir = Path(repo).resolve(), Path(tree_dir).resolve()
    index = repo / f"index-{os.getpid()}-{threading.get_ident()}"
    env_args = ("--git-dir", str(repo), "--work-tree", str(tree_dir))
    try:
        _git_index(index, *env_args, "add", "-A", "--force", ".")
        tree = _git_index(index, *env_args, "write-tree").decode().strip()
    finally:
        index.unlink(missing_ok=True)
    parent_args = ("-p", parent) if parent else ()
    return (
        git("--git-dir", str(repo), "commit-tree", tree, *parent_args, "-m", message)
        .decode()
        .strip()
    )


def _git_index(index: Path, *args: str) -> bytes:
    env = {**os.environ, **GIT_ENV, "GIT_INDEX_FILE": str(index)}
    proc = subprocess.run(["git", *args], capture_output=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"git {args[-2:]} failed: {proc.stderr.decode(errors='replace')}")
    return proc.stdout


@dataclass
class RepoStore:
    """The bare repositories tasks point at: `root/NAME.git`."""

    root: Path

    def path(self, name: str) -> Path:
        return Path(self.root) / f"{name}.git"

    def export(self, task: Task, dest: Path, commit: str | None = None) -> None:
        """Write the tree of `commit` (default: the task's base) into `dest`."""
        repo = self.path(task.name)
        if not repo.exists():
            known = ", ".join(sorted(p.stem for p in Path(self.root).glob("*.git"))) or "none"
            raise FileNotFoundError(f"no repository {task.name!r} in {self.root}; known: {known}")
        data = git("--git-dir", str(repo), "archive", "--format=tar", commit or task.base_commit)
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(dest, filter="data")
