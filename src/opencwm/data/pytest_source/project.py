"""A Python project on disk: fetched from PyPI as an sdist, and read for
what the test run needs (where the package is, where the tests are, which
files are the package's own code, and the files to ship into the sandbox).
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from opencwm.data.benchmarks import SourceError

TEST_DIRS = frozenset({"tests", "test", "testing"})
SKIP_DIRS = frozenset({".git", ".hg", ".tox", ".nox", "__pycache__", "build", "dist", ".eggs"})
MAX_PROJECT_BYTES = 32 * 1024 * 1024
"""Largest project shipped into the sandbox (sdists are far smaller)."""
DOWNLOAD_TIMEOUT_S = 300


def is_test_file(rel: str) -> bool:
    """Test code, by pytest's default naming: never an entry, always "outside"."""
    parts = rel.split("/")
    name = parts[-1]
    return (
        any(p in TEST_DIRS for p in parts[:-1])
        or name == "conftest.py"
        or (name.startswith("test_") and name.endswith(".py"))
        or name.endswith("_test.py")
    )


def _walk(root: Path):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            path = Path(dirpath, name)
            yield path.relative_to(root).as_posix(), path


def test_paths(project_dir: Path) -> list[str]:
    """Project-relative paths to hand to pytest: the top-most test folders
    and the test files outside them. Empty if the project has no tests."""
    out: list[str] = []
    for rel, _ in _walk(project_dir):
        if not rel.endswith(".py") or any(rel.startswith(p + "/") for p in out):
            continue
        parts = rel.split("/")
        for i, part in enumerate(parts[:-1]):
            if part in TEST_DIRS:
                out.append("/".join(parts[: i + 1]))
                break
        else:
            name = parts[-1]
            if name.startswith("test_") or name.endswith("_test.py"):
                out.append(rel)
    return sorted(set(out))


@dataclass(frozen=True)
class Layout:
    """Where things are, relative to the project directory."""

    import_root: str
    """Folder that goes on sys.path ("" for the project itself, "src" for src layouts)."""
    package_path: str
    """The package folder or single module, e.g. "src/isodate" or "inflection.py"."""
    tests: tuple[str, ...]

    def is_package_file(self, rel: str) -> bool:
        """A file of the package's own code (its tests excluded)."""
        inside = rel == self.package_path or rel.startswith(self.package_path + "/")
        return inside and rel.endswith(".py") and not is_test_file(rel)

    def module_name(self, rel: str) -> str:
        """Dotted module name of a package file: "src/isodate/isodates.py" -> "isodate.isodates"."""
        rel = rel[len(self.import_root) + 1 :] if self.import_root else rel
        parts = rel.removesuffix(".py").split("/")
        if parts[-1] == "__init__":
            parts.pop()
        return ".".join(parts)


def layout(project_dir: Path, package: str) -> Layout:
    """Find `package` (an import name, or a PyPI name whose import name
    differs: `python-dateutil` is imported as `dateutil`, which the sdist's
    `top_level.txt` says) and the tests in `project_dir`; SourceError says
    what was found instead."""
    plain = package.lower().removeprefix("python-")
    names = dict.fromkeys(
        [
            package,
            package.replace("-", "_"),
            package.lower().replace("-", "_"),
            plain.replace("-", "_"),
            *_top_level_names(project_dir),
        ]
    )
    for name in names:
        for root in ("src", ""):
            base = project_dir / root if root else project_dir
            if (base / name / "__init__.py").is_file():
                rel = f"{root}/{name}" if root else name
            elif (base / f"{name}.py").is_file():
                rel = f"{root}/{name}.py" if root else f"{name}.py"
            else:
                continue
            tests = tuple(test_paths(project_dir))
            if not tests:
                raise SourceError(
                    f"{project_dir.name} has no tests (no tests/ or test/ folder and no "
                    "test_*.py file); the pytest source needs a project that ships its tests"
                )
            return Layout(root, rel, tests)
    found = sorted(
        p.name.removesuffix(".py")
        for base in (project_dir, project_dir / "src")
        if base.is_dir()
        for p in base.iterdir()
        if (p / "__init__.py").is_file() or (p.suffix == ".py" and p.name != "setup.py")
    )
    raise SourceError(
        f"package {package!r} not found in {project_dir} (looked in ./ and src/); "
        f"found: {', '.join(found) or 'nothing importable'}"
    )


def _top_level_names(project_dir: Path) -> list[str]:
    """Import names an sdist's egg-info declares (`NAME.egg-info/top_level.txt`)."""
    files = [
        *project_dir.glob("*.egg-info/top_level.txt"),
        *project_dir.glob("src/*.egg-info/top_level.txt"),
    ]
    return [n.strip() for f in sorted(files) for n in f.read_text().splitlines() if n.strip()]


def project_files(project_dir: Path) -> dict[str, str]:
    """Every file of the project as relative path -> base64 contents, for the
    sandbox, which sees nothing of the host's disk."""
    out: dict[str, str] = {}
    total = 0
    for rel, path in _walk(project_dir):
        if path.is_symlink() or not path.is_file() or rel.endswith((".pyc", ".pyo")):
            continue
        data = path.read_bytes()
        total += len(data)
        if total > MAX_PROJECT_BYTES:
            raise SourceError(
                f"{project_dir} is over {MAX_PROJECT_BYTES // 2**20} MiB; "
                "point the pytest source at the project's source checkout, not a folder with data"
            )
        out[rel] = base64.b64encode(data).decode()
    return out


def fetch_project(package: str, dest: Path) -> Path:
    """Download `package`'s sdist from PyPI (`NAME` or `NAME==VERSION`), extract
    it under `dest` and return the project directory; an earlier download
    in `dest` is reused. Raises SourceError if the sdist has no tests."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    name = package.split("==")[0].strip()
    marker = dest / f"{package.replace('==', '-')}.project"
    if marker.is_file():
        project = dest / marker.read_text().strip()
        if project.is_dir():
            layout(project, name)
            return project
    with tempfile.TemporaryDirectory(dir=dest, prefix=".download-") as tmp:
        archive = _download(package, Path(tmp) / "sdist")
        unpacked = Path(tmp) / "unpacked"
        _extract(archive, unpacked)
        tops = [p for p in unpacked.iterdir() if p.is_dir()]
        if len(tops) != 1:
            raise SourceError(f"sdist {archive.name} does not hold one project folder")
        layout(tops[0], name)
        project = dest / tops[0].name
        if not project.is_dir():
            shutil.move(str(tops[0]), project)
    marker.write_text(project.name + "\n")
    return project


def _download(package: str, into: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    cmd += ["--disable-pip-version-check", "-q", package, "-d", str(into)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise SourceError(f"downloading the sdist of {package!r} took over 300 s") from None
    archives = sorted(into.glob("*")) if into.is_dir() else []
    if proc.returncode != 0 or len(archives) != 1:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        why = lines[-1].strip() if lines else f"pip exited with {proc.returncode}"
        raise SourceError(
            f"could not download the sdist of {package!r} from PyPI ({why}); "
            "check the name and that the registry is reachable"
        )
    return archives[0]


def _extract(archive: Path, into: Path) -> None:
    into.mkdir()
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                target = (into / member).resolve()
                if not target.is_relative_to(into.resolve()):
                    raise SourceError(f"{archive.name} has a path outside the archive: {member}")
            zf.extractall(into)
    else:
        try:
            with tarfile.open(archive) as tf:
                tf.extractall(into, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise SourceError(f"could not unpack {archive.name}: {exc}") from None
