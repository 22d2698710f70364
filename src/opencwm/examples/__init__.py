"""Bundled example programs: what `opencwm demo` traces."""

import ast
from importlib.resources import files


def example_paths() -> list:
    """The bundled examples, in a stable order."""
    return sorted(
        p for p in files(__name__).iterdir() if p.name.endswith(".py") and p.name[0] != "_"
    )


def example_args(source: str) -> tuple[str, str | None]:
    """The `# input: "..."` and `# stdin: "..."` comments of an example program."""
    args, stdin = "", None
    for line in source.splitlines():
        if line.startswith("# input: "):
            args = ast.literal_eval(line.removeprefix("# input: "))
        elif line.startswith("# stdin: "):
            stdin = ast.literal_eval(line.removeprefix("# stdin: "))
    return args, stdin
