"""A checkout under the host's temp dir: bound read-only under the sandbox's
/tmp, it must neither slow warm runs down nor stop /tmp being emptied.

The tree stands in for a checkout and its virtualenv (tens of thousands of
files when real): a worker that walked it after every job made a warm run
cost as much as a cold one (issue 19). pytest's `tmp_path` lies under the
host's /tmp, so the tree is bound at the same path inside the sandbox.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_sandbox import QUICK, WORKER_START, printed, run

from opencwm.sandbox import worker
from opencwm.sandbox.pool import Sandbox

FILES = 12_000
PRELOAD = ("opencwm.tracer.job",)

LIST_TMP = """import os
dev = os.lstat('/tmp').st_dev
seen = []
for root, dirs, files in os.walk('/tmp'):
    dirs[:] = [d for d in dirs if os.lstat(os.path.join(root, d)).st_dev == dev]
    seen += [os.path.join(root, n) for n in dirs + files]
print(sorted(seen))
"""
"""What of /tmp is the sandbox's own tmpfs (bound trees left out): the
skeleton bwrap made for the binds, plus whatever jobs left behind."""


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`FILES` files in 60 directories, one of them an importable package."""
    root = tmp_path_factory.mktemp("checkout") / "tree"
    for d in range(60):
        sub = root / f"pkg{d:02d}"
        sub.mkdir(parents=True)
        for f in range(FILES // 60):
            (sub / f"mod{f:03d}.py").write_text(f"X = {f}\n")
    (root / "pkg00" / "__init__.py").write_text("VALUE = 42\n")
    return root


@pytest.fixture(scope="module")
def bound(checkout: Path) -> Iterator[Sandbox]:
    with Sandbox(size=1, preload=PRELOAD, ro_binds=(str(checkout),)) as sb:
        yield sb


def test_the_checkout_is_under_tmp_and_bound_there(checkout: Path, bound: Sandbox):
    assert str(checkout).startswith("/tmp/"), checkout
    read = f"import sys\nsys.path.insert(0, {str(checkout)!r})\nimport pkg00\nprint(pkg00.VALUE)\n"
    assert printed(run(bound, read)) == "42\n"


def test_warm_runs_stay_much_cheaper_than_cold_ones(checkout: Path, bound: Sandbox):
    """The guard against issue 19: a warm run must not pay for the bound tree."""

    def median_s(sb: Sandbox, n: int) -> float:
        times = []
        for _ in range(n):
            start = time.perf_counter()
            assert run(sb, "x = 1\n").ok
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    run(bound, "pass\n")  # the worker is up
    warm = median_s(bound, 15)
    with Sandbox(size=1, preload=PRELOAD, ro_binds=(str(checkout),), warm=False) as cold_sb:
        cold = median_s(cold_sb, 5)
    assert warm <= cold / 5, f"warm median {warm * 1e3:.1f} ms vs cold {cold * 1e3:.1f} ms"


def test_what_a_job_wrote_is_gone_and_the_checkout_is_not(checkout: Path, bound: Sandbox):
    before = printed(run(bound, LIST_TMP))
    assert str(checkout.parent) in before  # the skeleton bwrap made to hold the bind
    write = (
        "import os\n"
        "os.makedirs('/tmp/a/b/c')\n"
        "for d in ('/tmp', '/tmp/a', '/tmp/a/b/c'):\n"
        "    open(d + '/leak.txt', 'w').write('secret')\n"
        "os.symlink('/tmp/a', '/tmp/link')\n"
        "os.mkfifo('/tmp/fifo')\n"
    )
    printed(run(bound, write))
    assert printed(run(bound, LIST_TMP)) == before
    assert len(list(checkout.rglob("*.py"))) == FILES + 1


def test_a_tree_too_deep_to_wipe_gets_the_next_job_a_fresh_sandbox(bound: Sandbox):
    before = printed(run(bound, LIST_TMP))
    worker = printed(run(bound, WORKER_START))
    # 3000 levels: paths past PATH_MAX, which no walk by path can remove
    deep = (
        "import os\nos.chdir('/tmp')\nfor _ in range(3000):\n    os.mkdir('d')\n    os.chdir('d')\n"
    )
    printed(run(bound, deep, QUICK))
    assert printed(run(bound, LIST_TMP)) == before
    assert printed(run(bound, WORKER_START)) != worker


def test_files_inside_the_skeleton_go_and_the_skeleton_stays(tmp_path: Path):
    """Where a job runs as the worker's own uid (no root), it can write into
    the directories bwrap made to hold the binds: those files go too."""
    (tmp_path / "home" / "user" / "src").mkdir(parents=True)
    skeleton = worker._tmp_dirs(str(tmp_path))
    for rel in ("a.txt", "home/b.txt", "home/user/c.txt", "home/user/src/d.txt", "new/e/f.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("job")
    (tmp_path / "home" / "link").symlink_to(tmp_path / "home" / "user")
    assert worker._wipe_tmp(skeleton, str(tmp_path))
    assert {str(p) for p in tmp_path.rglob("*")} | {str(tmp_path)} == skeleton
