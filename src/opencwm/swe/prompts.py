"""What the agent reads: the tool manual, the issue, and the budget notice.

The text-format manual follows CWM's SWE-RL system prompt, so a model
trained on CWM's tool calls reads a familiar contract; `view` and `search`
are additions, documented the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opencwm.swe.env import EnvConfig
    from opencwm.swe.task import Task

TEXT_TOOLS = """\
<tool: bash>
[command(s)]
</tool>
Runs bash command(s) in /workspace, each call in a fresh non-interactive shell \
(stdin is empty; the working directory and variables do not carry over).

<tool: view>
[path]
[optional line range, e.g. 20-60]
</tool>
Shows a file with line numbers, or lists a folder.

<tool: edit>
[path]
<<<<<<< SEARCH
[search_lines]
=======
[replacement_lines]
>>>>>>> REPLACE
</tool>
Replaces [search_lines] in [path] with [replacement_lines]; [search_lines] must match \
exactly once, including indentation and whitespace.

<tool: create>
[path]
[content]
</tool>
Creates a new file at [path] with [content]; [path] must not exist, its folder must.

<tool: search>
[regex]
[optional path]
</tool>
Lists the lines matching [regex] in the files under [path] (default: the repository).

<tool: submit>
</tool>
Ends the episode: the workspace as it is then is graded by the hidden tests.

REQUIREMENTS:
* Invoke exactly one tool in each reply.
* The episode ends at <tool: submit> or when the budget runs out."""

FUNCTION_TOOLS = """\
Use the provided functions (bash, view, edit, create, search, submit), one call per \
reply. bash runs in /workspace in a fresh non-interactive shell each time. submit ends \
the episode: the workspace as it is then is graded by the hidden tests."""

SYSTEM = """\
You are working in a Linux sandbox without network access. The repository is at \
/workspace. You can act for at most {max_turns} turns and {max_tokens} tokens; each \
command may run for {timeout:g} seconds.

{tools}"""

USER = """\
Solve the following issue by changing the code in /workspace:

<issue_description>
{issue}
</issue_description>

Run the tests with `{test_cmd}`. Do not change the tests or the test configuration: \
the hidden tests are added and run by the harness after you submit, and changes to \
tests, conftest.py or pytest/tox/setup configuration are discarded."""


def system_prompt(tool_format: str, config: EnvConfig) -> str:
    if tool_format not in ("text", "functions"):
        raise ValueError(f"unknown tool format {tool_format!r}; known: text, functions")
    return SYSTEM.format(
        max_turns=config.max_turns,
        max_tokens=config.max_tokens,
        timeout=config.command_timeout_s,
        tools=TEXT_TOOLS if tool_format == "text" else FUNCTION_TOOLS,
    )


def user_prompt(task: Task) -> str:
    return USER.format(issue=task.problem_statement.strip(), test_cmd=task.test_cmd)


def budget_notice(turns_left: int, tokens_left: int, config: EnvConfig) -> str:
    lines = ["<budget>", f"* Remaining turns: {turns_left}", f"* Remaining tokens: {tokens_left}"]
    if turns_left <= config.warn_turns:
        lines.append("* Submit soon: when the budget runs out the workspace is graded as it is.")
    return "\n".join([*lines, "</budget>"])
