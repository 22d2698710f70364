"""The `opencwm` command: thin wrappers that parse flags and call one function.

Heavy libraries are imported inside the commands that need them, so
`opencwm trace` starts fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="opencwm: trace Python executions and model them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_FAILED = 2
EXIT_TRUNCATED = 3


def fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    """Print one clear line on stderr; the caller raises the returned Exit."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise fail(f"{what} {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {what} {str(path)!r}: {exc}") from None


@app.command()
def trace(
    file: Annotated[Path, typer.Argument(help="Python file to trace.")],
    entry: Annotated[
        str | None,
        typer.Option(
            help="Function to call (default: the one marked # << START_OF_TRACE, else the whole script)."
        ),
    ] = None,
    input: Annotated[
        str, typer.Option("--input", help="Arguments as Python expressions, e.g. \"[1, 2], 'a'\".")
    ] = "",
    stdin: Annotated[
        Path | None, typer.Option(help="File whose text the program reads as standard input.")
    ] = None,
    format: Annotated[
        str, typer.Option("--format", help="cwm (model text), jsonl (one frame per line) or table.")
    ] = "cwm",
    out: Annotated[
        Path | None, typer.Option(help="Write the trace here instead of stdout.")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Wall-clock limit in seconds.")] = 10.0,
    max_frames: Annotated[int, typer.Option(help="Stop after this many frames.")] = 10_000,
    repr_cap: Annotated[int, typer.Option(help="Longest value text kept, in characters.")] = 200,
) -> None:
    """Run a program in the sandbox and print its execution trace."""
    from opencwm.sandbox.bwrap import SandboxUnavailable
    from opencwm.trace.cwm import to_cwm
    from opencwm.trace.jsonl import to_jsonl
    from opencwm.tracer.api import TraceConfig, trace_program

    if format not in ("cwm", "jsonl", "table"):
        raise fail(f"unknown format {format!r}; known: cwm, jsonl, table")
    source = read_text(file, "file")
    stdin_text = read_text(stdin, "stdin file") if stdin else None
    config = TraceConfig(timeout_s=timeout, max_frames=max_frames, repr_cap=repr_cap)
    try:
        result = trace_program(source, entry, input, stdin=stdin_text, config=config)
    except SandboxUnavailable as exc:
        raise fail(str(exc)) from None
    if result.status == "failed":
        raise fail(f"{file}: {result.reason}")
    if format == "table":
        from rich.console import Console

        from opencwm.trace.view import status_line, trace_table

        console = Console(file=open(out, "w") if out else sys.stdout)  # noqa: SIM115
        console.print(trace_table(result, title=f"{file} :: {result.entry}"))
        console.print(status_line(result))
    else:
        text = to_cwm(result) if format == "cwm" else to_jsonl(result)
        if out:
            out.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
    if result.status == "truncated":
        raise fail(f"trace truncated: {result.reason} (partial trace written)", EXIT_TRUNCATED)


@app.command()
def demo(
    frames: Annotated[int, typer.Option(help="Frames shown per example.")] = 40,
) -> None:
    """Trace the bundled example programs and show each execution."""
    from rich.console import Console

    from opencwm.examples import example_args, example_paths
    from opencwm.sandbox.bwrap import SandboxUnavailable
    from opencwm.trace.view import status_line, trace_table
    from opencwm.tracer.api import trace_program

    console = Console()
    for path in example_paths():
        source = path.read_text(encoding="utf-8")
        args, stdin = example_args(source)
        try:
            result = trace_program(source, None, args, stdin=stdin)
        except SandboxUnavailable as exc:
            raise fail(str(exc)) from None
        title = f"{path.name} :: {result.entry}({args})" if args else f"{path.name} (script)"
        console.print(trace_table(result, title=title, limit=frames))
        console.print(f"[bold]{status_line(result)}[/bold]\n")


def main() -> None:  # pragma: no cover
    app()


data_app = typer.Typer(help="Build and inspect trace corpora.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("build")
def data_build(
    source: Annotated[
        str, typer.Option(help="synthetic:N | humaneval | pytest:PKG | jsonl:FILE | scripts:DIR")
    ],
    out: Annotated[Path, typer.Option(help="Output directory (resumes a killed build).")],
    workers: Annotated[int, typer.Option(help="Parallel tracing workers.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed for generated sources.")] = 0,
    ray: Annotated[bool, typer.Option("--ray", help="Run the workers on Ray.")] = False,
    ray_address: Annotated[
        str | None, typer.Option(help="Address of an existing Ray cluster.")
    ] = None,
    max_frames: Annotated[int, typer.Option(help="Traces longer than this are rejected.")] = 2_000,
    timeout: Annotated[float, typer.Option(help="Wall-clock limit per program, seconds.")] = 5.0,
    check_determinism: Annotated[
        bool, typer.Option(help="Trace twice; reject traces that differ.")
    ] = True,
) -> None:
    """Trace a source of programs into sharded Parquet with a manifest."""
    from opencwm.data.benchmarks import SourceError
    from opencwm.data.pipeline import BuildConfig, BuildError, build
    from opencwm.data.progress import progress_bar
    from opencwm.data.work import WorkConfig
    from opencwm.tracer.api import TraceConfig

    work = WorkConfig(TraceConfig(timeout_s=timeout, max_frames=max_frames), check_determinism)
    config = BuildConfig(
        source=source,
        out=out,
        seed=seed,
        workers=workers,
        ray=ray,
        ray_address=ray_address,
        work=work,
    )
    try:
        with progress_bar(f"tracing {source}") as advance:
            manifest = build(config, on_chunk=advance, on_items=advance.set_total)
    except (SourceError, BuildError) as exc:
        raise fail(str(exc)) from None
    splits = ", ".join(f"{k} {v}" for k, v in manifest["splits"].items())
    typer.echo(f"{out}: {splits}; {manifest['items']['duplicates']} duplicates dropped")


@data_app.command("stats")
def data_stats(
    out: Annotated[Path, typer.Argument(help="A built corpus directory.")],
    plot: Annotated[
        Path | None, typer.Option(help="Write a PNG histogram of trace lengths here.")
    ] = None,
) -> None:
    """Counts per source and split, trace lengths, event and value-type mix, failures."""
    from rich.console import Console
    from rich.table import Table

    from opencwm.data.stats import corpus_stats, plot_lengths

    if not (out / "manifest.json").exists():
        raise fail(f"{out} is not a built corpus (no manifest.json)")
    stats = corpus_stats(out)
    console = Console()
    for key in ("counts", "length_histogram", "events", "value_types", "failure_reasons"):
        table = Table(title=key.replace("_", " "), show_header=False)
        for k, v in stats[key].items():
            table.add_row(str(k), str(v))
        console.print(table)
    if plot:
        plot_lengths(stats["lengths"], plot)
        console.print(f"trace-length histogram: {plot}")


@data_app.command("show")
def data_show(
    out: Annotated[Path, typer.Argument(help="A built corpus directory.")],
    id: Annotated[str, typer.Argument(help="The item id.")],
) -> None:
    """One trace of a corpus, readable."""
    from rich.console import Console

    from opencwm.data.pipeline import iter_rows
    from opencwm.trace.cwm import from_cwm
    from opencwm.trace.view import status_line, trace_table

    for row in iter_rows(out):
        if row["id"] == id:
            trace = from_cwm(row["cwm"])
            console = Console()
            console.print(
                trace_table(trace, title=f"{id} ({row['source']}) {row['entry']}({row['input']})")
            )
            console.print(
                status_line(trace)
                if row["status"] in ("returned", "raised")
                else f"{row['status']}: {row['reason']}"
            )
            return
    raise fail(f"no item {id!r} in {out}")
