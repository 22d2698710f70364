"""Hostile agents: each attacks one property, scores 0 and leaves the host unharmed.

"Unharmed": no sandboxed process outlives the episode (the shared
`assert_nothing_left_running` fixture), the host paths an attack aimed at
do not exist, and a fresh episode still works. Attacks that would *win*
against a naive harness (a conftest forcing passes, fake PASSED lines, a
forged report, os._exit(0)) come with the bug unfixed, so only a harness
that trusted them would pay out.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest
from swe_helpers import bash, play

from opencwm.swe.tools import ToolCall


def create(path: str, content: str) -> str:
    return f"<tool: create>\n{path}\n{content}\n</tool>"


def lib_append(code: str) -> str:
    """Append code to the library module the hidden tests import."""
    return bash(f"cat >> tinylib/__init__.py <<'EOF'\n{code}\nEOF")


@pytest.fixture
def hostile(numbers_task, make_env, assert_nothing_left_running):
    """Play an attack; check it scored 0 and left nothing behind; return its steps."""

    def attack(actions: list, **env_overrides):
        env = make_env(**env_overrides)
        steps = play(env, numbers_task, actions)
        assert steps[-1].terminal
        assert steps[-1].reward == 0.0, steps[-1].info["verdict"]
        if os.environ.get("SWE_SHOW"):
            for s in steps:
                print(repr(s.action[:200]), "->", repr(s.observation[:600]))
            print(steps[-1].info["verdict"]["reason"], steps[-1].info["verdict"]["refused"])
        assert_nothing_left_running()
        again = play(env, numbers_task, [bash("echo alive")])  # the host still serves
        assert again[1].observation.startswith("<output>\nalive")
        return steps

    return attack


def test_network_is_unreachable(hostile):
    listener = socket.create_server(("127.0.0.1", 0))  # a host service the agent must not reach
    listener.setblocking(False)
    port = listener.getsockname()[1]
    probe = (
        "import socket\n"
        f"for host, port in (('127.0.0.1', {port}), ('1.1.1.1', 80), ('pypi.org', 443)):\n"
        "    try:\n"
        "        socket.create_connection((host, port), timeout=3); print('CONNECTED', host)\n"
        "    except OSError as e:\n"
        "        print('blocked', host, type(e).__name__)\n"
    )
    steps = hostile([create("probe.py", probe), bash("python probe.py")])
    assert "CONNECTED" not in steps[2].observation and steps[2].observation.count("blocked") == 3
    with pytest.raises(BlockingIOError):  # nothing knocked on the host's port
        listener.accept()
    listener.close()


def test_fork_bomb_is_contained(hostile):
    steps = hostile([bash(":(){ :|:& };:"), bash("echo after")], command_timeout_s=5)
    assert "after" in steps[2].observation


def test_memory_bombs_are_contained(hostile):
    one = "python -c 'x = bytearray(16 * 1024**3)'; echo one=$?"
    many = (
        'for i in 1 2 3 4; do python -c \'import time; x = b"x" * (400 * 1024**2); '
        "time.sleep(3)' & done; wait; echo many=done"
    )
    steps = hostile([bash(one), bash(many)], memory_mb=512, command_timeout_s=20)
    assert "MemoryError" in steps[1].observation
    assert "many=done" in steps[2].observation


def test_disk_fill_is_stopped(hostile):
    fill = "for i in $(seq 1 200); do head -c 5000000 /dev/zero > fill$i; done; echo filled"
    tmp_fill = "head -c 400000000 /dev/zero > /tmp/big; ls -la /tmp/big; echo tmp=$?"
    steps = hostile([bash(fill), bash("du -sm . | cut -f1"), bash(tmp_fill)], max_workspace_mb=20)
    assert "workspace grew past 20 MB" in steps[1].observation
    assert int(steps[2].observation.split("\n")[1]) < 200
    assert "No space left" in steps[3].observation or "File size limit" in steps[3].observation


def test_daemons_die_with_the_command(hostile):
    daemon = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(600)\n"
        "    os._exit(0)\n"
    )
    steps = hostile(
        [
            create("daemon.py", daemon),
            bash("python daemon.py; nohup sleep 600 >/dev/null 2>&1 & setsid sleep 600 & echo ok"),
            bash("ps -e -o pid,comm | grep -c sleep || true"),
        ]
    )
    assert steps[3].observation.startswith("<output>\n0")


def test_writes_outside_the_workspace_stay_inside(hostile):
    name = f"opencwm-pwned-{uuid.uuid4().hex}"
    targets = [f"/etc/{name}", f"/root/{name}", f"/tmp/{name}", f"{Path.cwd()}/{name}"]
    hostile(
        [
            bash("; ".join(f"touch {t}" for t in targets) + "; echo x > ../escape; true"),
            create(f"../{name}", "x"),
            create(f"/tmp/{name}", "x"),
        ]
    )
    for target in targets:
        assert not os.path.exists(target), target


def test_hidden_tests_and_history_are_not_readable(hostile, numbers_task, built):
    out_dir = built[2]
    hidden_name = "test_clamp_high"  # a function only the hidden test file defines
    steps = hostile(
        [
            bash("git log --all --oneline; git reflog | wc -l; git count-objects -v | head -1"),
            bash(
                "find / -path /proc -prune -o -path /usr -prune -o -path /root -prune "
                f"-o -name test_numbers.py -print 2>/dev/null; ls {out_dir} 2>&1 | head -2"
            ),
            bash(
                f"grep -rl {hidden_name} /workspace /tmp /home /var /opt /mnt /srv /work/main/data "
                f"{out_dir} 2>/dev/null | head -5; echo searched"
            ),
            ToolCall("view", {"path": str(out_dir / "tasks.jsonl")}),
            ToolCall("search", {"pattern": hidden_name, "path": "/"}),
        ]
    )
    seen = "\n".join(s.observation for s in steps[1:-1])
    assert hidden_name not in seen and "searched" in seen
    assert steps[1].observation.count("initial") == 1


def test_conftest_forcing_passes_is_refused(hostile):
    conftest = (
        "import pytest\n\n"
        "@pytest.hookimpl(hookwrapper=True)\n"
        "def pytest_runtest_makereport(item, call):\n"
        "    outcome = yield\n"
        "    report = outcome.get_result()\n"
        "    report.outcome = 'passed'\n"
    )
    for path in ("conftest.py", "tests/conftest.py"):
        steps = hostile([create(path, conftest)])
        refused = dict(steps[-1].info["verdict"]["refused"])
        assert path in refused, refused


def test_fake_passed_lines_do_not_count(hostile):
    fake = (
        "import atexit, os, sys\n"
        "_ids = ['tests/test_numbers.py::test_' + n for n in "
        "('clamp_low', 'clamp_high', 'clamp_mid', 'total', 'total_empty', 'mean', 'mean_empty')]\n"
        "os.write(1, ''.join(f'PASSED {i}\\n' for i in _ids).encode())\n"
        "atexit.register(lambda: os.write(1, b'7 passed in 0.01s\\n'))\n"
    )
    steps = hostile([lib_append(fake)])
    assert "did not pass" in steps[-1].info["verdict"]["reason"]


def test_os_exit_zero_in_a_hook_does_not_count(hostile):
    exits = "import os, sys\nif 'pytest' in sys.modules:\n    os._exit(0)\n"
    steps = hostile([create("conftest.py", "import os\ndef pytest_sessionstart(session):\n"
                            "    os._exit(0)\n"), lib_append(exits)])  # fmt: skip
    verdict = steps[-1].info["verdict"]
    assert "no test report" in verdict["reason"], verdict


def test_forged_report_is_rejected(hostile):
    forge = (
        "import json, os, sys\n"
        "if os.path.isdir('/results'):\n"
        "    ids = [a for a in sys.argv if '::' in a]\n"
        "    json.dump({'nonce': '', 'exitstatus': 0, 'tests': {i: 'passed' for i in ids},\n"
        "               'messages': {}, 'collect_errors': []}, open('/results/report.json', 'w'))\n"
        "    os._exit(0)\n"
    )
    steps = hostile([lib_append(forge)])
    assert "not written by the harness" in steps[-1].info["verdict"]["reason"]


def test_a_module_shadowing_pytest_is_refused(hostile):
    steps = hostile([create("pytest.py", "import sys\nsys.exit(0)\n")])
    refused = dict(steps[-1].info["verdict"]["refused"])
    assert "shadow" in refused["pytest.py"]


def test_syntax_error_that_hides_tests_scores_zero(hostile):
    steps = hostile([lib_append("def broken(:\n")])
    verdict = steps[-1].info["verdict"]
    assert "collection error" in verdict["reason"], verdict


def test_editing_tests_is_refused(hostile):
    passing = "def test_clamp_high():\n    pass\n"
    steps = hostile(
        [
            bash("echo 'def test_extra(): pass' >> tests/test_words.py"),
            create("tests/test_numbers.py", passing),
            create("tests/test_new.py", passing),
            create("pytest.ini", "[pytest]\naddopts = -p no:python\n"),
            create("tinylib/sitecustomize.py", "import os\n"),
            create("tinylib/evil.pth", "import os\n"),
        ]
    )
    refused = dict(steps[-1].info["verdict"]["refused"])
    assert set(refused) >= {
        "tests/test_words.py",
        "tests/test_numbers.py",
        "tests/test_new.py",
        "pytest.ini",
        "tinylib/sitecustomize.py",
        "tinylib/evil.pth",
    }, refused


def test_symlinks_out_of_the_workspace_are_refused(hostile):
    steps = hostile(
        [
            bash(
                "ln -s /etc/passwd leak.txt; ln -s /root rootlink; "
                "ln -sf /etc/hostname tinylib/x.py"
            ),
            ToolCall("view", {"path": "leak.txt"}),
            ToolCall("edit", {"path": "rootlink/.bashrc", "search": "a", "replace": "b"}),
        ]
    )
    assert "leads outside" in steps[2].observation and "leads outside" in steps[3].observation
    refused = dict(steps[-1].info["verdict"]["refused"])
    assert {"leak.txt", "rootlink", "tinylib/x.py"} <= set(refused)
