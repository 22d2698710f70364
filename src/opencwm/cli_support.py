"""What every command module shares: the one-line error, reading an input file,
and finding the world model to ask.

It sits below `opencwm.cli` and the command modules it registers
(`opencwm.debug.cli`, `opencwm.halt.cli`), so none of them imports another
to reach these. Only typer at import time: the model libraries load inside
the functions that need them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from opencwm.world.backends import Backend, LocalBackend

EXIT_FAILED = 2
EXIT_TRUNCATED = 3


def fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    """Print one clear line on stderr; the caller raises the returned Exit."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def read_text(path: Path, what: str) -> str:
    """A user's file as text, or a one-line error naming `what` it was for."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise fail(f"{what} {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {what} {str(path)!r}: {exc}") from None


def world_model_dir(model: Path | None) -> Path:
    """`--model`, or the bundled model; one-line errors when there is none."""
    from opencwm.world import bundled_model

    path = model or bundled_model()
    if not (path / "config.json").exists():
        if model is None:
            raise fail(
                f"no bundled model at {path}; train it with `opencwm train --data CORPUS "
                "--out models/cwm-tiny` (a corpus from `opencwm data build`), "
                "or pass --model DIR or --endpoint URL"
            )
        raise fail(f"{path} is not a model directory (no config.json)")
    return path


def load_local_backend(path: Path) -> LocalBackend:
    """The model in `path` on this machine; a load failure is one line, not a traceback."""
    from transformers.utils import logging as hf_logging

    from opencwm.world.backends import LocalBackend

    hf_logging.disable_progress_bar()
    try:
        return LocalBackend(str(path))
    except (OSError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise fail(f"cannot load the model in {path}: {first}") from None


def model_backend(
    model: Path | None, endpoint: str | None, served_model: str | None
) -> tuple[Backend, str]:
    """(backend, label for a report) from --model / --endpoint."""
    from opencwm.world.backends import BackendError, connect

    if model and endpoint:
        raise fail("give --model or --endpoint, not both")
    if endpoint:
        try:
            backend = connect(endpoint, served_model)
        except BackendError as exc:
            raise fail(str(exc)) from None
        return backend, f"{endpoint} ({backend.model})"
    path = world_model_dir(model)
    return load_local_backend(path), str(path)
