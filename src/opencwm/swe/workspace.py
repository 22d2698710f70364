"""Workspaces: the agent's copy of a task's repository, and what it changed.

The harness never trusts the workspace's own git: an agent can rewrite
`.git` at will. Instead `diff_trees` compares the workspace with the
pristine snapshot file by file, and `protected_reason` decides which
changes the reward may not see (tests, conftest, test and build
configuration, `.pth`, `sitecustomize`, modules that would shadow pytest or
the standard library, symlinks, anything that is not a regular file, files
over 1 MB). Those changes are dropped and reported, never applied.
"""

from __future__ import annotations

import difflib
import os
import shutil
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from opencwm.sandbox.command import claim_workspace
from opencwm.swe.task import git

CACHE_NAMES = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis"}
CACHE_SUFFIXES = (".pyc", ".pyo")
TEST_DIRS = {"test", "tests", "testing"}
CONFIG_FILES = {
    "conftest.py",
    "pytest.ini",
    ".pytest.ini",
    "tox.ini",
    "setup.cfg",
    "setup.py",
    "pyproject.toml",
    "noxfile.py",
    "sitecustomize.py",
    "usercustomize.py",
}
RUNNER_MODULES = {"pytest", "_pytest", "pluggy", "iniconfig", "py", "packaging"}
MAX_FILE_BYTES = 1024 * 1024


def is_test_path(rel: str) -> bool:
    """Test files and anything under a tests/ folder: hidden or protected."""
    parts = rel.split("/")
    name = parts[-1]
    return (
        any(p in TEST_DIRS for p in parts[:-1])
        or (name.startswith("test_") and name.endswith(".py"))
        or name.endswith("_test.py")
    )


def protected_reason(rel: str, *, new: bool) -> str | None:
    """Why a change to `rel` may not reach the reward, or None if it may."""
    name = rel.rsplit("/", 1)[-1]
    if is_test_path(rel) or name == "conftest.py":
        return "tests are the harness's"
    if name in CONFIG_FILES:
        return "test and build configuration is the harness's"
    if name.endswith(".pth"):
        return ".pth files run code at interpreter start"
    parts = rel.split("/")
    top = parts[1] if parts[0] == "src" and len(parts) > 1 else parts[0]
    module = top.removesuffix(".py")
    if new and (module in RUNNER_MODULES or module in sys.stdlib_module_names):
        return f"a new module {module!r} would shadow the test runner or the standard library"
    return None


def scrub(root: Path) -> None:
    """Remove caches and bytecode so nothing of an earlier run is left behind."""
    for dirpath, dirnames, filenames in os.walk(root):
        for d in [d for d in dirnames if d in CACHE_NAMES or d.endswith(".egg-info")]:
            shutil.rmtree(os.path.join(dirpath, d))
            dirnames.remove(d)
        for f in filenames:
            if f.endswith(CACHE_SUFFIXES):
                os.unlink(os.path.join(dirpath, f))


def make_workspace(snapshot: Path, dest: Path, uid: int | None = None) -> int | None:
    """Copy the snapshot to `dest` with a fresh one-commit git history; own it by a sandbox uid.

    The history holds only the buggy tree: nothing to `git log` back to.
    """
    shutil.copytree(snapshot, dest, symlinks=True)
    git("init", "-q", "-b", "main", cwd=dest)
    git("add", "-A", "--force", cwd=dest)
    git("commit", "-q", "--no-verify", "-m", "initial", cwd=dest)
    return claim_workspace(dest, uid)


@dataclass(frozen=True)
class Change:
    """One file the agent added, modified or deleted (data None)."""

    path: str
    data: bytes | None
    old: bytes | None


def _files(root: Path) -> dict[str, os.stat_result]:
    """Relative path -> lstat of everything below root except .git and caches."""
    out: dict[str, os.stat_result] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        for d in list(dirnames):
            full = os.path.join(dirpath, d)
            if (rel_dir == "." and d == ".git") or d in CACHE_NAMES:
                dirnames.remove(d)
            elif os.path.islink(full):  # os.walk lists, but never enters, linked dirs
                out[os.path.normpath(os.path.join(rel_dir, d))] = os.lstat(full)
                dirnames.remove(d)
        for f in filenames:
            if not f.endswith(CACHE_SUFFIXES):
                out[os.path.normpath(os.path.join(rel_dir, f))] = os.lstat(os.path.join(dirpath, f))
    return out


def diff_trees(snapshot: Path, workspace: Path) -> tuple[list[Change], list[tuple[str, str]]]:
    """(changes the reward applies, [(path, why refused)]) from snapshot to workspace."""
    before, after = _files(snapshot), _files(workspace)
    changes: list[Change] = []
    refused: list[tuple[str, str]] = []
    for rel in sorted(before.keys() | after.keys()):
        st = after.get(rel)
        old = (snapshot / rel).read_bytes() if rel in before else None
        if st is None:
            reason = protected_reason(rel, new=False)
            if reason:
                refused.append((rel, f"deleted: {reason}"))
            else:
                changes.append(Change(rel, None, old))
            continue
        if stat.S_ISLNK(st.st_mode):
            refused.append((rel, "symlinks may point outside the repository"))
            continue
        if not stat.S_ISREG(st.st_mode):
            refused.append((rel, "not a regular file"))
            continue
        if st.st_size > MAX_FILE_BYTES:
            refused.append((rel, f"larger than {MAX_FILE_BYTES >> 10} KB"))
            continue
        data = (workspace / rel).read_bytes()
        if data == old:
            continue
        reason = protected_reason(rel, new=old is None)
        if reason:
            refused.append((rel, reason))
        else:
            changes.append(Change(rel, data, old))
    return changes, refused


def apply_changes(root: Path, changes: list[Change]) -> None:
    """Write the changes into a fresh copy of the snapshot (deletions first, so a
    file may replace a folder and the other way round)."""
    for c in sorted(changes, key=lambda c: c.data is not None):
        path = root / c.path
        if c.data is None:
            path.unlink(missing_ok=True)
            continue
        if path.parent.exists() and not path.parent.is_dir():
            path.parent.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            shutil.rmtree(path)
        path.write_bytes(c.data)


def apply_patch(root: Path, patch: str) -> None:
    """Apply a unified diff (our own, trusted) to a directory that is not a repository."""
    if patch.strip():
        git("apply", "--whitespace=nowarn", "-", cwd=root, stdin=patch.encode())


def file_diff(path: str, old: bytes | None, new: bytes | None) -> str:
    """A git-style diff of one file that `git apply` accepts."""
    head = f"diff --git a/{path} b/{path}\n"
    if old is None:
        head += "new file mode 100644\n"
    elif new is None:
        head += "deleted file mode 100644\n"
    try:
        a = old.decode() if old is not None else ""
        b = new.decode() if new is not None else ""
    except UnicodeDecodeError:
        return head + f"Binary files a/{path} and b/{path} differ\n"
    lines = difflib.unified_diff(
        a.splitlines(keepends=True),
        b.splitlines(keepends=True),
        "/dev/null" if old is None else f"a/{path}",
        "/dev/null" if new is None else f"b/{path}",
    )
    body = "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )
    return head + body if body else ""


def changes_diff(changes: list[Change]) -> str:
    """The unified diff of a list of changes, as the harness saw them."""
    return "".join(file_diff(c.path, c.old, c.data) for c in changes)
