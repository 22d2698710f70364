"""The issue text of a built task: what fails and how, never the fix.

Written the way a user files a bug: which tests fail and with what
message. It never names the mutated file, line or operator; the failure
messages are pytest's own one-line crash summaries, cut short.
"""

from __future__ import annotations

from opencwm.swe.testrun import TestRun

MAX_LISTED = 8
MAX_MESSAGE_LINES = 4
MAX_LINE_CHARS = 200


def _message(text: str) -> str:
    lines = [line.rstrip()[:MAX_LINE_CHARS] for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[:MAX_MESSAGE_LINES])


def issue_text(
    name: str, version: str, failing: list[str], run: TestRun, passing: list[str]
) -> str:
    """A GitHub-style issue for a bug that makes `failing` fail and leaves `passing` passing."""
    files = sorted({t.split("::")[0] for t in failing})
    lines = [
        f"Tests fail in {name} {version}",
        "",
        f"After a recent change, {len(failing)} test(s) in {', '.join(f'`{f}`' for f in files)} "
        "fail:",
        "",
    ]
    for test in failing[:MAX_LISTED]:
        lines.append(f"- `{test}` ({run.status(test)})")
        msg = _message(run.messages.get(test, ""))
        if msg:
            lines += ["  ```", *(f"  {m}" for m in msg.splitlines()), "  ```"]
    if len(failing) > MAX_LISTED:
        lines.append(f"- ... and {len(failing) - MAX_LISTED} more")
    lines += [
        "",
        f"{len(passing)} other test(s) in the same file(s) still pass.",
        "",
        "The tests are right; the library code is wrong. Please fix the library so that "
        "these tests pass without breaking the others. The failing test files are not in "
        "your checkout: they are run when you submit.",
    ]
    return "\n".join(lines) + "\n"
