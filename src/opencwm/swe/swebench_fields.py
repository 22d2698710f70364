"""What SWE-bench 5.x's harness reads besides the instance schema, as far as
opencwm's tasks map onto it.

`swebench.harness.utils.make_test_spec` wants `image`, `eval_script`,
`log_parser` and `eval_type`. Three map honestly:

- `log_parser`: `parse_log_pytest`, which reads the `-rA` summary lines
  (`PASSED id`, `FAILED id - message`) our harness's pytest run prints;
- `eval_type`: `pass_and_fail`, our reward's rule (every FAIL_TO_PASS and
  PASS_TO_PASS test must pass);
- `eval_script`: the same test run as a bash script in SWE-bench's shape
  (apply `test_patch`, then pytest between the `>>>>> Start Test Output` /
  `>>>>> End Test Output` markers, then take the tests back out), for a
  checkout of `repos/NAME.git` at `base_commit` in `/testbed`.

`image` does not: tasks run in opencwm's bubblewrap sandbox over the host's
Python, and no container image exists. The script reproduces the test
selection and pytest options, not the harness's protections (the recorder
plugin and its nonce): graded from its log, a run can be fooled by printed
`PASSED` lines, as any log-graded SWE-bench instance can.
"""

from __future__ import annotations

import hashlib
import shlex
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opencwm.swe.task import Task

LOG_PARSER = "parse_log_pytest"
EVAL_TYPE = "pass_and_fail"
TESTBED = "/testbed"  # where SWE-bench's images hold the repository
START, END = ">>>>> Start Test Output", ">>>>> End Test Output"

# the harness's run (testrun.py): its configuration, not the repository's
PYTEST_OPTIONS = "-c /dev/null --rootdir {root} -p no:cacheprovider -rA -q"


def eval_script(task: Task, testbed: str = TESTBED) -> str:
    """A bash script that adds the hidden tests, runs the task's tests the
    harness's way and prints what `parse_log_pytest` reads."""
    patch = task.test_patch if task.test_patch.endswith("\n") else task.test_patch + "\n"
    end = "EOF_" + hashlib.sha256(patch.encode()).hexdigest()[:12]
    assert end not in patch, f"heredoc delimiter {end} occurs in the test patch"
    root = shlex.quote(testbed)
    ids = " ".join(shlex.quote(t) for t in [*task.FAIL_TO_PASS, *task.PASS_TO_PASS])
    pytest = f"python -m pytest {PYTEST_OPTIONS.format(root=root)} -- {ids}"
    return "\n".join(
        [
            "#!/bin/bash",
            "set -uxo pipefail",
            f"cd {root}",
            # src/ layouts import from src/, as in the harness (testrun.import_roots)
            f"export PYTHONPATH={root}; if [ -d src ]; then PYTHONPATH={root}/src:{root}; fi",
            "export PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 PYTHONDONTWRITEBYTECODE=1",
            f"git apply --verbose - <<'{end}'",
            patch + end,
            f": '{START}'",
            pytest,
            f": '{END}'",
            f"git apply --verbose --reverse - <<'{end}'",
            patch + end,
            "",
        ]
    )


def swebench_fields(task: Task) -> dict:
    """The harness fields a task file carries (no `image`: see the module doc)."""
    return {"log_parser": LOG_PARSER, "eval_type": EVAL_TYPE, "eval_script": eval_script(task)}
