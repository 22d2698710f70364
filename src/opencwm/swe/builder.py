"""The offline task builder: real libraries, injected bugs, validated tasks.

For each library: fetch its source (fetch.py), commit it as the one
pristine commit of a bare repository, keep the tests that pass 3 runs out
of 3, then try mutations (mutate.py) in a seeded order. A mutant becomes a
task when at least one kept test fails and at least one other test in the
same files still passes, the same in every run, within `max_test_s`. Its
failing tests' files become the hidden tests; the buggy tree without them
is the task's `base_commit`. With `validate`, the real reward must give the
gold patch 1 and an empty patch 0, or the task is dropped.

Each library's tasks are written to `out/tasks/NAME.jsonl` as it finishes
(a rerun skips finished libraries); `out/tasks.jsonl` joins them and
`out/manifest.json` counts what was kept and why the rest was not.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path

from opencwm.swe.fetch import FetchError, Project, fetch
from opencwm.swe.issue import issue_text
from opencwm.swe.mutate import OPERATORS, Mutation, mutate, sites
from opencwm.swe.reward import score_patch
from opencwm.swe.task import (
    FORMAT_VERSION,
    RepoStore,
    Task,
    commit_tree,
    git,
    load_tasks,
    save_tasks,
)
from opencwm.swe.testrun import TestRun, run_tests
from opencwm.swe.workspace import file_diff

DEFAULT_LIBS = ("cachetools", "toolz", "boltons", "inflection", "isodate", "sqlparse", "tabulate")


@dataclass
class BuildConfig:
    libs: list[str]
    out: Path
    max_per_lib: int = 40
    max_mutants_per_lib: int = 300
    workers: int = 2
    seed: int = 0
    runs: int = 3
    max_test_s: float = 10.0
    validate: bool = True
    force: bool = False


@dataclass
class LibReport:
    """What building one library produced, for the manifest."""

    spec: str
    name: str = ""
    version: str = ""
    stable_tests: int = 0
    mutants_tried: int = 0
    tasks: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0  # baseline and mutants, not the download
    error: str = ""


def build(config: BuildConfig, log=print) -> dict:
    """Build tasks for every library in `config.libs`; return the manifest."""
    out = config.out = Path(config.out).resolve()
    (out / "tasks").mkdir(parents=True, exist_ok=True)
    store = RepoStore(out / "repos")
    reports: list[LibReport] = []
    for spec in config.libs:
        report = LibReport(spec)
        try:
            _build_library(spec, config, store, report, log)
        except FetchError as exc:
            report.error = str(exc)
            log(f"{spec}: skipped: {exc}")
        reports.append(report)
    tasks = [t for f in sorted((out / "tasks").glob("*.jsonl")) for t in load_tasks(f)]
    save_tasks(tasks, out / "tasks.jsonl")
    libraries = {r.name or r.spec: asdict(r) for r in reports}
    for saved in sorted((out / "tasks").glob("*.report.json")):  # built by earlier runs
        report = json.loads(saved.read_text())
        libraries.setdefault(report["name"], report)
    manifest = {
        "format_version": FORMAT_VERSION,
        "tasks": len(tasks),
        "libraries": dict(sorted(libraries.items())),
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def _build_library(
    spec: str, config: BuildConfig, store: RepoStore, report: LibReport, log
) -> None:
    project = fetch(spec, Path(config.out) / "cache")
    report.name, report.version = project.name, project.version
    done = Path(config.out) / "tasks" / f"{project.name}.jsonl"
    saved = done.with_suffix(".report.json")
    if done.exists() and saved.exists() and not config.force:
        report.__dict__.update(json.loads(saved.read_text()), spec=spec)
        log(f"{project.name}: {report.tasks} tasks already built (use force to rebuild)")
        return
    start = time.monotonic()
    repo = store.path(project.name)
    if config.force:
        shutil.rmtree(repo, ignore_errors=True)  # no refs of an older build left behind
    if not repo.exists():
        git("init", "-q", "--bare", str(repo))
    pristine = commit_tree(repo, project.root, f"{project.name} {project.version}")
    stable, suite_s = _stable_tests(project, config.runs)
    report.stable_tests = len(stable)
    log(f"{project.name} {project.version}: {len(stable)} tests pass {config.runs}/{config.runs}")
    if len(stable) < 2:
        raise FetchError(f"{project.name}: fewer than 2 tests pass reliably")
    builder = _LibraryBuilder(project, config, store, pristine, stable, suite_s)
    tasks = builder.run(report)
    report.tasks = len(tasks)
    report.seconds = round(time.monotonic() - start, 1)
    save_tasks(tasks, done)
    saved.write_text(json.dumps(asdict(report), indent=1) + "\n")
    log(f"{project.name}: {len(tasks)} tasks from {report.mutants_tried} mutants {report.rejected}")


def _safe_id(test_id: str) -> bool:
    """Ids that survive a round trip through pytest's command line."""
    _, _, params = test_id.partition("[")
    return test_id.isascii() and test_id.isprintable() and "::" not in params and " " not in test_id


def _stable_tests(project: Project, runs: int) -> tuple[dict[str, str], float]:
    """(test id -> its file for the tests that pass in all `runs` runs, suite seconds).

    Two runs by file, then the rest by id: a test must keep its id from run
    to run as well as pass, or no task could name it.
    """
    with tempfile.TemporaryDirectory(prefix="opencwm-baseline-") as tmp:
        work = Path(tmp) / "repo"
        shutil.copytree(project.root, work, symlinks=True)
        first = run_tests(work, project.test_files, timeout_s=600)
        second = run_tests(work, project.test_files, timeout_s=600)
        # parametrize ids made from unordered values (a set holding None)
        # change from run to run: such a function's tests cannot be named
        unstable = {t.split("[")[0] for t in first.tests.keys() ^ second.tests.keys()}
        ok = {t for t in first.passed() & second.passed() if _safe_id(t)}
        ok = {t for t in ok if t.split("[")[0] not in unstable}
        for _ in range(runs - 2):
            if not ok:
                break
            ok &= _run_ids(work, sorted(ok)).passed()
    return {t: t.split("::")[0] for t in sorted(ok)}, first.duration_s


def _run_ids(work: Path, ids: list[str]) -> TestRun:
    """Run explicit ids. pytest refuses the whole run if one id is not found
    (parametrize ids that change between runs), so those tests are dropped,
    with every other case of the same function, and the rest run again."""
    for _ in range(5):
        run = run_tests(work, ids, timeout_s=600)
        lost = set(re.findall(r"not found: /workspace/(\S+)", run.output))
        if run.exit_code != 4 or not lost:
            return run
        ids = [t for t in ids if t not in lost and t.split("[")[0] not in lost]
    return run


class _LibraryBuilder:
    def __init__(self, project, config, store, pristine: str, stable: dict, suite_s: float) -> None:
        self.project, self.config, self.store = project, config, store
        self.pristine, self.stable = pristine, stable
        self.seen: set[str] = set()
        self.lock = threading.Lock()
        self.texts = {f: (project.root / f).read_text() for f in sorted(set(stable.values()))}
        # a mutant that loops forever costs a worker this long: a few times the
        # whole suite's time, which every mutant's (smaller) run should beat
        self.timeout_s = min(60.0, max(10.0, 3 * suite_s))

    def candidates(self) -> list[Mutation]:
        """All mutation sites, shuffled per operator and dealt round-robin."""
        rng = random.Random(f"{self.config.seed}:{self.project.name}")
        per_op: dict[str, list[Mutation]] = {op: [] for op in OPERATORS}
        for path in self.project.source_files:
            if not self._related_tests(path):
                continue
            source = (self.project.root / path).read_text()
            for op in OPERATORS:
                per_op[op] += [Mutation(path, op, i) for i in range(sites(source, op))]
        for ms in per_op.values():
            rng.shuffle(ms)
        dealt = [m for group in zip(*_padded(per_op.values()), strict=True) for m in group if m]
        return dealt[: self.config.max_mutants_per_lib]

    def _related_tests(self, path: str) -> list[str]:
        """Test files that mention the module; all of them for __init__ and top-level modules."""
        stem = path.rsplit("/", 1)[-1].removesuffix(".py")
        if stem == "__init__" or "/" not in path.removeprefix("src/"):
            related = [f for f, text in self.texts.items() if _top(path) in text]
        else:
            related = [f for f, text in self.texts.items() if stem in text]
        return related

    def run(self, report: LibReport) -> list[Task]:
        tasks: list[Task] = []
        rejected: Counter[str] = Counter()
        pending = iter(self.candidates())
        with ThreadPoolExecutor(self.config.workers) as pool:
            running = set()
            while True:
                while len(running) < self.config.workers and len(tasks) < self.config.max_per_lib:
                    m = next(pending, None)
                    if m is None:
                        break
                    report.mutants_tried += 1
                    running.add(pool.submit(self.try_mutation, m))
                if not running:
                    break
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for f in finished:
                    outcome = f.result()
                    if isinstance(outcome, str):
                        rejected[outcome] += 1
                    elif len(tasks) < self.config.max_per_lib:
                        tasks.append(outcome)
                    else:  # finished after the library was full
                        self._drop(outcome)
        report.rejected = dict(rejected.most_common())
        return sorted(tasks, key=lambda t: t.instance_id)

    def try_mutation(self, m: Mutation) -> Task | str:
        """A validated task, or the reason this mutant was rejected."""
        original = (self.project.root / m.path).read_text()
        mutated = mutate(original, m.operator, m.index)
        if mutated is None:
            return "no change"
        key = hashlib.sha1(f"{m.path}\0{mutated}".encode()).hexdigest()
        with self.lock:
            if key in self.seen:
                return "duplicate"
            self.seen.add(key)
        related = self._related_tests(m.path)
        ids = [t for t, f in self.stable.items() if f in related]
        with tempfile.TemporaryDirectory(prefix="opencwm-mutant-") as tmp:
            work = Path(tmp) / "repo"
            shutil.copytree(self.project.root, work, symlinks=True)
            (work / m.path).write_text(mutated)
            first = run_tests(work, related, timeout_s=self.timeout_s)
            if first.error:
                return "tests crashed or hung"
            f2p = [t for t in ids if first.status(t) != "passed"]
            hidden = sorted({self.stable[t] for t in f2p})
            p2p = [t for t in ids if self.stable[t] in hidden and first.status(t) == "passed"]
            if not f2p:
                return "no test fails"
            if not p2p:
                return "no test still passes"
            # with validation, grading the empty patch is the last run of the bug
            reruns = self.config.runs - 1 - int(self.config.validate)
            for _ in range(reruns):
                again = run_tests(work, [*f2p, *p2p], timeout_s=self.timeout_s)
                if reason := _differs(again, first, [*f2p, *p2p], self.config.max_test_s):
                    return reason
        task = self._task(m, mutated, f2p, p2p, hidden, first, key)
        reason = self._validate(task, first) if self.config.validate else ""
        if reason:
            self._drop(task)
            return reason
        return task

    def _drop(self, task: Task) -> None:
        repo = str(self.store.path(self.project.name))
        git("--git-dir", repo, "update-ref", "-d", f"refs/tasks/{task.instance_id}")

    def _validate(self, task: Task, first: TestRun) -> str:
        """Why the real harness disqualifies the task, or "" if it grades it right."""
        empty = score_patch(task, self.store, "")
        if empty.resolved:
            return "empty patch resolved by the harness"
        statuses = {**empty.fail_to_pass, **empty.pass_to_pass}
        if any(statuses[t] != first.status(t) for t in statuses):
            return "flaky"
        if empty.tests.get("duration_s", 0) > self.config.max_test_s:
            return "tests slower than the limit"
        if not score_patch(task, self.store, task.patch).resolved:
            return "gold patch not resolved by the harness"
        return ""

    def _task(self, m: Mutation, mutated: str, f2p, p2p, hidden, run: TestRun, key: str) -> Task:
        """Commit the buggy tree without the hidden tests (from a clean copy:
        the tests may have left files behind) and describe it as a Task."""
        repo = self.store.path(self.project.name)
        original = (self.project.root / m.path).read_text()
        with tempfile.TemporaryDirectory(prefix="opencwm-base-") as tmp:
            tree = Path(tmp) / "repo"
            shutil.copytree(self.project.root, tree, symlinks=True)
            (tree / m.path).write_text(mutated)
            for f in hidden:
                (tree / f).unlink()
            base = commit_tree(repo, tree, f"{m.operator} in {m.path}", parent=self.pristine)
        instance_id = f"{self.project.name}-{key[:10]}"
        git("--git-dir", str(repo), "update-ref", f"refs/tasks/{instance_id}", base)
        test_patch = "".join(
            file_diff(f, None, (self.project.root / f).read_bytes()) for f in hidden
        )
        return Task(
            instance_id=instance_id,
            repo=self.project.repo,
            base_commit=base,
            problem_statement=issue_text(self.project.name, self.project.version, f2p, run, p2p),
            patch=file_diff(m.path, mutated.encode(), original.encode()),
            test_patch=test_patch,
            FAIL_TO_PASS=f2p,
            PASS_TO_PASS=p2p,
            version=self.project.version,
            environment_setup_commit=self.pristine,
            meta={"operator": m.operator, "path": m.path, "site": m.index},
        )


def _differs(run: TestRun, first: TestRun, ids: list[str], max_s: float) -> str:
    """Why a rerun of the bug disqualifies it, or "" if it behaved the same."""
    if run.error or run.duration_s > max_s:
        return "tests slower than the limit"
    if any(run.status(t) != first.status(t) for t in ids):
        return "flaky"
    return ""


def _padded(groups) -> list[list]:
    groups = list(groups)
    n = max((len(g) for g in groups), default=0)
    return [g + [None] * (n - len(g)) for g in groups]


def _top(path: str) -> str:
    parts = path.removeprefix("src/").split("/")
    return parts[0].removesuffix(".py")
