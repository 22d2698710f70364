"""`opencwm debug`: flags in, one `Session`, then the REPL or the web app.

Imports only typer at module level: `opencwm.cli` registers this command,
and `opencwm trace` must not pay for torch or FastAPI at start-up.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Annotated

import typer

from opencwm.cli_options import EndpointOpt, EntryOpt, ModelOpt, ServedOpt
from opencwm.cli_support import fail, load_local_backend, read_text, world_model_dir


def file_input(source: str) -> tuple[str | None, str | None]:
    """The `# input: "..."` and `# stdin: "..."` comments of a program, or
    None for each one it lacks (no input: the model invents the arguments)."""
    found: dict[str, str | None] = {"input": None, "stdin": None}
    for line in source.splitlines():
        for key in found:
            if line.startswith(f"# {key}: "):
                try:
                    value = ast.literal_eval(line.removeprefix(f"# {key}: "))
                except (ValueError, SyntaxError):
                    continue
                if isinstance(value, str):
                    found[key] = value
    return found["input"], found["stdin"]


def debug(
    file: Annotated[Path, typer.Argument(help="Python file to debug.")],
    entry: EntryOpt = None,
    input: Annotated[
        str | None,
        typer.Option(
            "--input",
            help="Arguments as Python expressions (default: the file's `# input:` comment, "
            "else the model invents them).",
        ),
    ] = None,
    model: ModelOpt = None,
    endpoint: EndpointOpt = None,
    served_model: ServedOpt = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the endpoint's answer to one step.")
    ] = 60.0,
    real: Annotated[
        bool, typer.Option("--real", help="Step through the real execution (the tracer), no model.")
    ] = False,
    stdin: Annotated[
        Path | None,
        typer.Option(help="File the program reads as standard input (real runs of scripts)."),
    ] = None,
    web: Annotated[bool, typer.Option("--web", help="Serve the web debugger instead.")] = False,
    host: Annotated[str, typer.Option(help="Address of --web (no authentication!).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of --web.")] = 8765,
    temperature: Annotated[
        float | None, typer.Option(help="Sampling temperature (default 0: greedy).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Sampling seed.")] = None,
    max_frames: Annotated[int | None, typer.Option(help="Frames a session holds at most.")] = None,
) -> None:
    """Step through a program's execution as a world model imagines it (pdb-style, or --web)."""
    from dataclasses import replace

    from opencwm.debug.session import Session, SessionConfig
    from opencwm.debug.worlds import DebugError
    from opencwm.sandbox.bwrap import SandboxUnavailable
    from opencwm.world.backends import BackendError, Sampling, connect

    if model and endpoint:
        raise fail("give --model or --endpoint, not both")
    if real and (model or endpoint):
        raise fail("--real steps through the real run: it takes no --model or --endpoint")
    if not 0 < port < 65536:
        raise fail(f"--port {port} is not a port number (1-65535)")
    if max_frames is not None and max_frames < 2:
        raise fail("--max-frames must be at least 2")
    source = read_text(file, "file")
    given, stdin_text = file_input(source)
    if input is not None:
        given = input
    if stdin is not None:
        stdin_text = read_text(stdin, "stdin file")
    picked = {"temperature": temperature, "seed": seed}
    config = SessionConfig(sampling=Sampling(**{k: v for k, v in picked.items() if v is not None}))
    if max_frames is not None:
        config = replace(config, max_frames=max_frames)

    sock = None
    if web:
        from opencwm.world.serve import listen

        try:
            sock = listen(host, port)  # before the model loads: a busy port fails at once
        except OSError as exc:
            raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        if real:
            backend = None
        elif endpoint:
            backend = connect(endpoint, served_model, timeout_s=timeout)
        else:
            backend = load_local_backend(world_model_dir(model))
        session = Session(source, entry, given, backend=backend, stdin=stdin_text, config=config)
    except (DebugError, BackendError, SandboxUnavailable) as exc:
        raise fail(f"{file}: {exc}" if isinstance(exc, DebugError) else str(exc)) from None
    call = f"{session.entry}({given})" if given is not None else f"{session.entry}(?)"
    if session.entry == "<module>":
        call = "(script)"
    title = f"{file.name} :: {call}"
    if sock is not None:
        from opencwm.debug.web import create_app
        from opencwm.world.serve import run

        url = f"http://{host}:{sock.getsockname()[1]}/"
        typer.echo(f"debugging {title} at {url}; Ctrl-C stops", err=True)
        run(create_app(session, title), sock, log_level="warning")
        return

    from opencwm.debug.repl import DebuggerRepl, default_history

    world = "real run" if real else f"imagined by {endpoint or (model or 'cwm-tiny')}"
    typer.echo(f"debugging {title}, {world}; `help` lists the commands")
    DebuggerRepl(session, history=default_history()).run()
