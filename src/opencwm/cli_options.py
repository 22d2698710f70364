"""Options that several commands share (which program to run, which world model to
ask), declared once.

Only typer at import time, so every command module can use them without
slowing the CLI's start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ModelOpt = Annotated[
    Path | None, typer.Option(help="Model directory (HF layout); default models/cwm-tiny.")
]
EndpointOpt = Annotated[
    str | None,
    typer.Option(help="OpenAI-compatible server instead, e.g. http://127.0.0.1:8000/v1."),
]
ServedOpt = Annotated[
    str | None, typer.Option(help="Model name at --endpoint (default: the one it serves).")
]
EntryOpt = Annotated[
    str | None,
    typer.Option(
        help="Function to call (default: the one marked # << START_OF_TRACE, else the script)."
    ),
]
InputOpt = Annotated[
    str | None,
    typer.Option(
        "--input",
        help="Arguments as Python expressions (default: the file's `# input:` comment, else none).",
    ),
]
