"""Getting a library's source: a PyPI sdist, or a local project folder.

Why sdists: they are the released source, tests included for many
pure-Python libraries, and `pip download --no-binary :all:` fetches them
with the user's own pip configuration (mirrors, proxies). Nothing fetched
is committed to our repository; it lands in the build's cache folder.

A library already importable in this Python is refused: its installed,
pristine source would be readable inside the sandbox and give every fix
away (and could shadow the workspace's copy).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from opencwm.swe.workspace import CONFIG_FILES, is_test_path, scrub

SKIP_DIRS = {
    "docs",
    "doc",
    "examples",
    "example",
    "benchmarks",
    "bench",
    "scripts",
    "build",
    "dist",
}
SKIP_DIRS |= {"tools", "misc", ".github", ".git", ".tox", "venv", ".venv"}


class FetchError(RuntimeError):
    """The library could not be fetched or is unusable for tasks."""


@dataclass
class Project:
    """A library's source tree and what in it is code and what is tests."""

    name: str
    version: str
    repo: str  # "pypi/NAME" or "local/NAME"
    root: Path
    source_files: list[str]
    test_files: list[str]


def fetch(spec: str, cache: Path) -> Project:
    """`NAME`, `NAME==VERSION` (from PyPI) or a path to a local project folder."""
    path = Path(spec).expanduser()
    if path.is_dir():
        if Path(cache).resolve().is_relative_to(path.resolve()):
            raise FetchError(f"the output folder {cache} is inside the project {path}")
        root = cache / "local" / path.resolve().name
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(path, root, ignore=shutil.ignore_patterns(".git"))
        scrub(root)
        return _project(root, path.resolve().name, "0", "local")
    name = re.split(r"[=<>!~\[ ]", spec, maxsplit=1)[0].strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise FetchError(f"{spec!r} is neither a folder nor a PyPI requirement like 'toolz==1.0.0'")
    downloads = cache / "sdist" / re.sub(r"[^A-Za-z0-9._-]", "_", spec)
    archives = _archives(downloads)
    if not archives:
        downloads.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
        cmd += ["-q", "-d", str(downloads), spec]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        archives = _archives(downloads)
        if proc.returncode != 0 or not archives:
            tail = (proc.stderr.strip().splitlines() or ["no sdist downloaded"])[-1]
            raise FetchError(f"pip could not download an sdist of {spec!r}: {tail}")
    root = _extract(archives[0], cache / "src")
    scrub(root)
    version = _version(root) or archives[0].name.rsplit("-", 1)[-1].split(".tar")[0]
    return _project(root, name.lower().replace("_", "-"), version, "pypi")


def _archives(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.endswith((".tar.gz", ".tgz", ".zip")))


def _extract(archive: Path, dest: Path) -> Path:
    stem = archive.name.removesuffix(".tar.gz").removesuffix(".tgz").removesuffix(".zip")
    root = dest / stem
    shutil.rmtree(root, ignore_errors=True)
    tmp = dest / (stem + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            z.extractall(tmp)
    else:
        with tarfile.open(archive) as t:
            t.extractall(tmp, filter="data")
    inner = list(tmp.iterdir())
    top = inner[0] if len(inner) == 1 and inner[0].is_dir() else tmp
    top.rename(root)
    shutil.rmtree(tmp, ignore_errors=True)
    return root


def _version(root: Path) -> str | None:
    pkg_info = root / "PKG-INFO"
    if pkg_info.exists():
        m = re.search(r"^Version:\s*(\S+)", pkg_info.read_text(errors="replace"), re.M)
        return m.group(1) if m else None
    return None


def _project(root: Path, name: str, version: str, kind: str) -> Project:
    sources, tests = [], []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        parts = rel.split("/")
        if any(p in SKIP_DIRS or p.startswith(".") for p in parts[:-1]) or path.is_symlink():
            continue
        if is_test_path(rel):
            if parts[-1].startswith("test_") or parts[-1].endswith("_test.py"):
                tests.append(rel)
        elif parts[-1] not in CONFIG_FILES and parts[-1] not in ("_version.py", "version.py"):
            top_level = len(parts) == 1 or (parts[0] == "src" and len(parts) == 2)
            if top_level or (path.parent / "__init__.py").exists():
                sources.append(rel)
    if not tests:
        raise FetchError(f"{name} {version} ships no tests (no test_*.py / *_test.py files)")
    if not sources:
        raise FetchError(f"{name} {version}: no library modules found next to its tests")
    for top in sorted({_top_module(s) for s in sources}):
        spec = importlib.util.find_spec(top) if top.isidentifier() else None
        if spec is not None and spec.origin and not spec.origin.startswith(str(root)):
            raise FetchError(
                f"{top!r} is installed in this Python ({spec.origin}); its pristine source "
                f"would give the fixes away: uninstall it or pick another library"
            )
    return Project(name, version, f"{kind}/{name}", root, sources, tests)


def _top_module(rel: str) -> str:
    parts = rel.split("/")
    if parts[0] == "src" and len(parts) > 1:
        parts = parts[1:]
    return parts[0].removesuffix(".py")
