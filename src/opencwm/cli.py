"""The `opencwm` command: thin wrappers that parse flags and call one function.

Heavy libraries are imported inside the commands that need them, so
`opencwm trace` starts fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from opencwm.cli_options import EndpointOpt, EntryOpt, InputOpt, ModelOpt, ServedOpt
from opencwm.cli_support import (
    EXIT_TRUNCATED,
    fail,
    load_local_backend,
    model_backend,
    read_text,
    world_model_dir,
)

app = typer.Typer(
    help="opencwm: trace Python executions and model them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def trace(
    file: Annotated[Path, typer.Argument(help="Python file to trace.")],
    entry: EntryOpt = None,
    input: Annotated[
        str, typer.Option("--input", help="Arguments as Python expressions, e.g. \"[1, 2], 'a'\".")
    ] = "",
    stdin: Annotated[
        Path | None, typer.Option(help="File whose text the program reads as standard input.")
    ] = None,
    format: Annotated[
        str,
        typer.Option(
            "--format",
            help="cwm (model text), jsonl (one frame per line), table or nl (plain English).",
        ),
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
    from opencwm.trace.nl import to_nl
    from opencwm.tracer.api import TraceConfig, trace_program

    if format not in ("cwm", "jsonl", "table", "nl"):
        raise fail(f"unknown format {format!r}; known: cwm, jsonl, table, nl")
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
        text = {"cwm": to_cwm, "jsonl": to_jsonl, "nl": to_nl}[format](result)
        if out:
            out.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
    if result.status == "truncated":
        raise fail(f"trace truncated: {result.reason} (partial trace written)", EXIT_TRUNCATED)


@app.command()
def demo(
    frames: Annotated[int, typer.Option(help="Frames shown per example.")] = 30,
    model: Annotated[
        Path | None, typer.Option(help="World model directory; default models/cwm-tiny.")
    ] = None,
    max_frames: Annotated[int, typer.Option(help="Frames imagined per example at most.")] = 80,
) -> None:
    """The world model at work: each bundled example imagined by the model,
    beside its real execution, with how often the two agree."""
    from rich.console import Console

    from opencwm.examples import example_args, example_paths
    from opencwm.sandbox.bwrap import SandboxUnavailable
    from opencwm.trace.view import status_line
    from opencwm.tracer.api import TraceConfig, trace_program
    from opencwm.world.compare import compare as pair
    from opencwm.world.compare import comparison_table
    from opencwm.world.rollout import RolloutConfig, rollout

    console = Console()
    backend = load_local_backend(world_model_dir(model))
    totals = {"frames": 0, "matching": 0, "outputs": 0, "right": 0}
    for path in example_paths():
        source = path.read_text(encoding="utf-8")
        args, stdin = example_args(source)
        if stdin is not None:
            continue  # the model imagines functions on given arguments, not scripts on stdin
        try:
            real = trace_program(source, None, args, config=TraceConfig())
            imagined, steps = rollout(
                source, None, args, backend, RolloutConfig(max_frames=max_frames)
            )
        except SandboxUnavailable as exc:
            raise fail(str(exc)) from None
        c = pair(real, imagined, steps)
        console.print(
            comparison_table(c, title=f"{path.name} :: {real.entry}({args})", limit=frames)
        )
        console.print(f"real:     {status_line(real)}")
        console.print(f"imagined: {status_line(imagined)}")
        console.print(c.summary() + "\n")
        stats = c.stats()
        totals["frames"] += stats["real_frames"]
        totals["matching"] += stats["exact"]
        totals["outputs"] += 1
        totals["right"] += int(stats["same_result"] and real.status in ("returned", "raised"))
    console.print(
        f"[bold]{totals['matching']}/{totals['frames']} real frames imagined exactly; "
        f"{totals['right']}/{totals['outputs']} results right[/bold]"
    )


def main() -> None:  # pragma: no cover
    app()


@app.command()
def train(
    data: Annotated[
        list[Path],
        typer.Option(help="A corpus built by `opencwm data build`; repeat to train on several."),
    ],
    out: Annotated[
        Path, typer.Option(help="Model directory (HF layout); resumes if it holds a run.")
    ],
    preset: Annotated[
        str, typer.Option(help="tiny (~4M), small (~26M) or base (~105M parameters).")
    ] = "tiny",
    steps: Annotated[int, typer.Option(help="Optimizer steps in all.")] = 1000,
    batch_size: Annotated[int, typer.Option(help="Rows per step.")] = 16,
    block: Annotated[int, typer.Option(help="Tokens per row.")] = 1024,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = 2e-3,
    warmup: Annotated[int, typer.Option(help="Warm-up steps.")] = 100,
    loss_on: Annotated[str, typer.Option(help="trace (frame tokens only) or all.")] = "trace",
    eval_every: Annotated[int, typer.Option(help="Validate every N steps.")] = 100,
    save_every: Annotated[int, typer.Option(help="Checkpoint every N steps.")] = 200,
    vocab_size: Annotated[int, typer.Option(help="BPE vocabulary size (new runs).")] = 2048,
    seed: Annotated[int, typer.Option(help="Seed for initialisation and batch order.")] = 0,
    max_rows: Annotated[
        list[int] | None,
        typer.Option(
            help="At most N traces per corpus and split (sets a mixture): once for all, "
            "or once per --data in order; 0 = all."
        ),
    ] = None,
    max_windows: Annotated[
        int | None,
        typer.Option(help="At most N windows of each trace (caps very long runs' share)."),
    ] = None,
    precision: Annotated[
        str, typer.Option(help="auto (bf16 autocast where the device has bf16 units), bf16, fp32.")
    ] = "auto",
    compile: Annotated[
        bool, typer.Option(help="torch.compile the decoder (~25 s to start, then faster).")
    ] = False,
    time_budget: Annotated[
        str | None,
        typer.Option(
            help="Fit the run in this time (90s, 45m, 1h30m): steps planned from the measured "
            "pace, cosine to the floor at the planned end, saved by the deadline; --steps unused."
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option(help="Processes that tokenise and window traces for packing.")
    ] = 1,
) -> None:
    """Train a CwmForCausalLM on traces (CPU; CUDA + bf16 when present; torchrun for DDP)."""
    import time

    started = time.monotonic()  # a --time-budget counts from here
    from opencwm.model.budget import parse_duration
    from opencwm.model.presets import PRESETS

    try:
        budget_s = parse_duration(time_budget) if time_budget is not None else None
    except ValueError as exc:
        raise fail(f"--time-budget: {exc}") from None
    if preset not in PRESETS:
        raise fail(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    if loss_on not in ("trace", "all"):
        raise fail(f"unknown --loss-on {loss_on!r}; known: trace, all")
    if workers < 1:
        raise fail(f"--workers must be at least 1, not {workers}")
    for d in data:
        if not (d / "manifest.json").exists():
            raise fail(f"{d} is not a built corpus (no manifest.json); see `opencwm data build`")
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from opencwm.model.train import TrainConfig
    from opencwm.model.train import train as run_training

    config = TrainConfig(
        data=[str(d) for d in data],
        out=str(out),
        preset=preset,
        steps=steps,
        batch_size=batch_size,
        block=block,
        lr=lr,
        min_lr=lr / 10,
        warmup=warmup,
        loss_on_all=loss_on == "all",
        eval_every=eval_every,
        save_every=save_every,
        vocab_size=vocab_size,
        seed=seed,
        max_rows=max_rows or None,
        max_windows=max_windows,
        precision=precision,
        compile=compile,
        time_budget=budget_s,
        workers=workers,
    )
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeRemainingColumn(),
    ]
    with Progress(*columns) as progress:
        packs: dict[str, tuple[int, float]] = {}  # split: (task, start)
        task, val = None, "-"

        def packing(split: str, done: int, total: int) -> None:
            if split not in packs:
                packs[split] = (
                    progress.add_task(f"packing {split}", total=total, stats=""),
                    time.monotonic(),
                )
            bar, start = packs[split]
            rate = done / max(time.monotonic() - start, 1e-3)
            progress.update(bar, completed=done, stats=f"{rate:.0f} traces/s" if done else "")

        def report(r: dict) -> None:
            nonlocal task, val
            if task is None:
                task = progress.add_task("training", total=None if budget_s else steps, stats="")
            if "val_loss" in r:
                val = f"{r['val_loss']:.3f} frame acc {r['val_frame_acc']:.1%}"
            progress.update(
                task,
                completed=r["step"],
                stats=f"loss {r['loss']:.3f} {r['tokens_per_s']:.0f} tok/s val {val}",
                **({"total": r["plan"]["steps"]} if "plan" in r else {}),
            )

        try:
            last = run_training(
                config,
                report,
                lambda line: progress.console.print(line, markup=False, soft_wrap=True),
                started,
                packing,
            )
        except ValueError as exc:
            raise fail(str(exc)) from None
    planned = f" (planned to fit {time_budget}: train_config.json)" if time_budget else ""
    typer.echo(
        f"{out}: step {last.get('step')}{planned}, loss {last.get('loss', float('nan')):.3f}; "
        f"curves in {out / 'curves.png'}"
    )


data_app = typer.Typer(help="Build and inspect trace corpora.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("build")
def data_build(
    source: Annotated[
        str,
        typer.Option(
            help="synthetic:N | humaneval | pytest:PKG | jsonl:FILE | scripts:DIR | halting:N"
        ),
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
    from opencwm.data.pipeline import BuildConfig, BuildError, finalize, prepare, run_chunks
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
    from opencwm.data.sources import expected_count

    try:
        with progress_bar(f"listing {source}", failures=False) as listed:
            listed.set_total(expected_count(source))
            items, info = prepare(config, listed)
        with progress_bar(f"tracing {source}") as advance:
            advance.set_total(len(items))
            run_chunks(config, items, advance)
        manifest = finalize(config, info)
    except (SourceError, BuildError) as exc:
        raise fail(str(exc)) from None
    splits = ", ".join(f"{k} {v}" for k, v in manifest["splits"].items())
    typer.echo(f"{out}: {splits}; {manifest['items']['duplicates']} duplicates dropped")


@data_app.command("code")
def data_code(
    out: Annotated[Path, typer.Option(help="Output directory (rewritten).")],
    from_: Annotated[
        list[str] | None,
        typer.Option(
            "--from", help="stdlib | site-packages | sdists:DIR (repeat; default the first two)."
        ),
    ] = None,
    decontam: Annotated[
        list[Path] | None,
        typer.Option(help="A built corpus whose test programs no kept file may hold (repeat)."),
    ] = None,
    max_files: Annotated[
        int | None, typer.Option(help="A seeded sample of this many files.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the file order and sample.")] = 0,
) -> None:
    """Plain Python for pre-training, deduplicated and decontaminated (docs/data.md)."""
    from opencwm.data.code_corpus import CodeConfig, CodeError, build_code
    from opencwm.data.progress import progress_bar

    config = CodeConfig(
        out=out,
        sources=from_ or ["stdlib", "site-packages"],
        decontam=decontam or [],
        max_files=max_files,
        seed=seed,
    )
    try:
        with progress_bar("reading code") as advance:
            m = build_code(config, advance.set_total, advance)
    except CodeError as exc:
        raise fail(str(exc)) from None
    files = m["files"]
    dropped = ", ".join(f"{k} {v}" for k, v in files["dropped"].items()) or "none"
    splits = ", ".join(f"{k} {v}" for k, v in m["splits"].items())
    typer.echo(
        f"{out}: {files['kept']:,} files kept of {files['candidates']:,} "
        f"({m['chars'] / 1e6:.1f} M characters, ~{m['tokens_estimate'] / 1e6:.1f} M tokens); "
        f"rows {splits}; dropped: {dropped}"
    )


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


@data_app.command("narrate")
def data_narrate(
    data: Annotated[Path, typer.Option(help="A corpus built by `opencwm data build`.")],
    out: Annotated[Path, typer.Option(help="Where the narrated copy goes.")],
) -> None:
    """Copy a corpus with each trace told in plain English, to train on with
    `opencwm train --data OUT` (docs/evaluation.md, "Narration")."""
    from opencwm.data.narrate import NarrateError, narrate_corpus

    try:
        manifest = narrate_corpus(data, out)
    except (NarrateError, ValueError) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"{out}: narrated, {', '.join(f'{k} {v}' for k, v in manifest['splits'].items())}")


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


swe_app = typer.Typer(help="SWE tasks: build them, run agents on them.", no_args_is_help=True)
app.add_typer(swe_app, name="swe")


@swe_app.command("build")
def swe_build(
    out: Annotated[Path, typer.Option(help="Output directory (a rerun skips finished libraries).")],
    libs: Annotated[
        str,
        typer.Option(
            help="Comma-separated PyPI names (NAME or NAME==VERSION) or local project folders."
        ),
    ] = "cachetools,toolz,boltons,inflection,isodate,sqlparse,tabulate",
    max_per_lib: Annotated[int, typer.Option(help="Stop a library after this many tasks.")] = 40,
    max_mutants: Annotated[int, typer.Option(help="Mutants tried per library at most.")] = 300,
    workers: Annotated[int, typer.Option(help="Mutants tested in parallel.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed for the order mutants are tried in.")] = 0,
    validate: Annotated[
        bool, typer.Option(help="Keep a task only if the gold patch scores 1 and an empty one 0.")
    ] = True,
    force: Annotated[bool, typer.Option(help="Rebuild libraries that are already built.")] = False,
) -> None:
    """Fetch libraries, inject bugs, and keep the ones their tests catch reliably."""
    from opencwm.sandbox.bwrap import SandboxUnavailable
    from opencwm.swe.builder import BuildConfig, build

    names = [s.strip() for s in libs.split(",") if s.strip()]
    if not names:
        raise fail("no libraries given; e.g. --libs cachetools,toolz")
    config = BuildConfig(
        libs=names,
        out=out,
        max_per_lib=max_per_lib,
        max_mutants_per_lib=max_mutants,
        workers=workers,
        seed=seed,
        validate=validate,
        force=force,
    )
    try:
        manifest = build(config, log=lambda line: typer.echo(line, err=True))
    except SandboxUnavailable as exc:
        raise fail(str(exc)) from None
    for name, lib in manifest["libraries"].items():
        status = lib["error"] or f"{lib['tasks']} tasks from {lib['mutants_tried']} mutants"
        typer.echo(f"{name} {lib['version']}: {status}")
    typer.echo(f"{out / 'tasks.jsonl'}: {manifest['tasks']} tasks")
    if manifest["tasks"] == 0:
        raise fail("no task was built; see the reasons above")


@swe_app.command("run")
def swe_run(
    tasks: Annotated[Path, typer.Option(help="Tasks file (.jsonl or .json) from `swe build`.")],
    agent: Annotated[str, typer.Option(help="oracle, null or llm.")] = "oracle",
    endpoint: Annotated[
        str | None,
        typer.Option(
            help="OpenAI-compatible API base for --agent llm, e.g. http://127.0.0.1:8000/v1."
        ),
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model name to ask the endpoint for.")] = None,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="OPENAI_API_KEY", help="Bearer token, if the endpoint needs one."),
    ] = None,
    tool_format: Annotated[
        str, typer.Option(help="How the llm agent calls tools: text (CWM tags) or functions.")
    ] = "text",
    workers: Annotated[int, typer.Option(help="Episodes in parallel.")] = 1,
    out: Annotated[
        Path | None,
        typer.Option(help="Trajectories (JSON Lines); default runs/swe-AGENT-TIME.jsonl."),
    ] = None,
    repos: Annotated[
        Path | None,
        typer.Option(help="Repositories folder (default: repos/ beside the tasks file)."),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Run only the first N tasks.")] = None,
    max_turns: Annotated[int, typer.Option(help="Turns per episode.")] = 40,
    reply_tokens: Annotated[
        int | None,
        typer.Option(help="Most tokens per reply of --agent llm (the max_tokens it asks for)."),
    ] = None,
) -> None:
    """Run an agent on every task; save each trajectory and print a summary table."""
    import time

    from rich.console import Console
    from rich.table import Table

    from opencwm.swe.agents import AGENTS, ModelError, OpenAIModel, make_agent
    from opencwm.swe.env import EnvConfig
    from opencwm.swe.runner import RunConfig, run, summarize
    from opencwm.swe.task import load_tasks

    if agent not in AGENTS:
        raise fail(f"unknown agent {agent!r}; known: {', '.join(AGENTS)}")
    if tool_format not in ("text", "functions"):
        raise fail(f"unknown tool format {tool_format!r}; known: text, functions")
    try:
        task_list = load_tasks(tasks)[:limit]
    except FileNotFoundError:
        raise fail(f"tasks file {str(tasks)!r} does not exist") from None
    except ValueError as exc:
        raise fail(f"cannot read tasks from {tasks}: {exc}") from None
    repos = repos or tasks.parent / "repos"
    if not repos.is_dir():
        raise fail(f"no repositories folder {str(repos)!r}; pass --repos")
    chat = None
    if agent == "llm":
        if not endpoint or not model:
            raise fail("--agent llm needs --endpoint URL and --model NAME")
        chat = OpenAIModel(endpoint, model, api_key=api_key)
        if reply_tokens is not None:
            if reply_tokens < 1:
                raise fail(f"--reply-tokens must be at least 1, not {reply_tokens}")
            chat.max_tokens = reply_tokens
        try:
            chat.ping()
        except ModelError as exc:
            raise fail(str(exc)) from None
    out = out or Path("runs") / f"swe-{agent}-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    config = RunConfig(
        tasks=task_list,
        repos=repos,
        agent=agent,
        out=out,
        workers=workers,
        tool_format=tool_format,
        env=EnvConfig(max_turns=max_turns),
    )
    start = time.monotonic()
    try:
        trajectories = run(
            config,
            make=lambda: make_agent(agent, chat, tool_format),
            on_episode=lambda t: typer.echo(
                f"{t['instance_id']}: reward {t['reward']} ({t['ended']}{'; ' + t['error'] if t['error'] else ''})",
                err=True,
            ),
        )
    finally:
        if chat:
            chat.close()
    summary = summarize(trajectories)
    table = Table(title=f"{agent} on {len(task_list)} tasks ({time.monotonic() - start:.1f}s)")
    table.add_column("repo", no_wrap=True)
    for col in ("n", "solved", "rate", "turns", "s/ep", "s/grade", "errors"):
        table.add_column(col, justify="right")
    rows = [*summary["by_repo"].items(), ("all", summary["all"])]
    for name, s in rows:
        table.add_row(
            name, str(s["episodes"]), str(s["resolved"]), f"{s['resolved_rate']:.1%}",
            f"{s['mean_turns']:.1f}", f"{s['mean_s']:.1f}", f"{s['mean_reward_s']:.2f}", str(s["errors"]),
        )  # fmt: skip
    Console().print(table)
    typer.echo(f"trajectories: {out}")


# ---- world model: predict, serve (issue 4) ----------------------------------


@app.command()
def predict(
    file: Annotated[Path, typer.Argument(help="Python file whose execution to predict.")],
    entry: EntryOpt = None,
    input: InputOpt = None,
    model: ModelOpt = None,
    endpoint: EndpointOpt = None,
    served_model: ServedOpt = None,
    compare: Annotated[
        bool, typer.Option("--compare", help="Also run the real tracer; show both side by side.")
    ] = False,
    temperature: Annotated[
        float | None, typer.Option(help="Sampling temperature (default 0: greedy).")
    ] = None,
    top_p: Annotated[float | None, typer.Option(help="Nucleus sampling mass.")] = None,
    seed: Annotated[int | None, typer.Option(help="Sampling seed.")] = None,
    max_frames: Annotated[int | None, typer.Option(help="Stop after this many frames.")] = None,
    format: Annotated[
        str, typer.Option("--format", help="table, or nl (one English sentence per step).")
    ] = "table",
    narrated: Annotated[
        bool,
        typer.Option(
            "--narrated",
            help="The model writes English (trained on `opencwm data narrate`); "
            "detected for a model directory trained on narrated corpora only.",
        ),
    ] = False,
) -> None:
    """Predict a program's execution frame by frame with a code world model."""
    from dataclasses import replace

    from rich.console import Console

    from opencwm.examples import example_args
    from opencwm.sandbox.bwrap import SandboxUnavailable
    from opencwm.trace.view import status_line
    from opencwm.tracer.api import TraceConfig, trace_program
    from opencwm.world.backends import BackendError, Sampling, connect
    from opencwm.world.compare import compare as pair
    from opencwm.world.compare import comparison_table, imagined_table
    from opencwm.world.rollout import RolloutConfig, rollout

    if model and endpoint:
        raise fail("give --model or --endpoint, not both")
    if format not in ("table", "nl"):
        raise fail(f"unknown format {format!r}; known: table, nl")
    if format == "nl" and compare:
        raise fail("--compare shows a table: drop --format nl")
    source = read_text(file, "file")
    args, stdin = example_args(source)
    args = args if input is None else input
    picked = {"temperature": temperature, "top_p": top_p, "seed": seed}
    config = RolloutConfig(sampling=Sampling(**{k: v for k, v in picked.items() if v is not None}))
    if max_frames is not None:
        config = replace(config, max_frames=max_frames)
    try:
        backend = connect(endpoint, served_model) if endpoint else None
    except BackendError as exc:
        raise fail(str(exc)) from None
    if backend is None:
        from opencwm.data.narrate import narrates

        narrated = narrated or narrates(world_model_dir(model))
        backend = load_local_backend(world_model_dir(model))
    told = None
    try:
        if narrated:
            from opencwm.data.narrate import narrate_rollout
            from opencwm.world.rollout import Step

            imagined, sentences, told = narrate_rollout(source, entry, args, backend, config)
            steps = [Step(t.frame, t.reply, t.error) for t in told]
        else:
            imagined, steps = rollout(source, entry, args, backend, config)
        real = None
        if compare and imagined.status != "failed":
            limits = TraceConfig(max_frames=config.max_frames)
            real = trace_program(source, entry, args, stdin=stdin, config=limits)
    except BackendError as exc:
        raise fail(str(exc)) from None
    except SandboxUnavailable as exc:
        raise fail(str(exc)) from None
    if imagined.status == "failed":
        raise fail(f"{file}: {imagined.reason}")
    console = Console()
    call = f"{imagined.entry}({args})" if imagined.entry != "<module>" else "(script)"
    if format == "nl":
        from opencwm.trace.nl import to_nl

        if told is None:
            typer.echo(to_nl(imagined), nl=False)
        else:  # the model's own sentences, and each reply that did not parse, raw
            typer.echo("\n".join(sentences))
            for k, t in enumerate(told, start=len(sentences) + 1):
                if t.error:
                    typer.echo(f"sentence {k} does not parse ({t.error}): {t.reply!r}")
        typer.echo(f"imagined: {status_line(imagined)}")
        return
    if real is None:
        console.print(imagined_table(imagined, steps, title=f"{file} :: {call}, imagined"))
        console.print(f"imagined: {status_line(imagined)}")
        return
    comparison = pair(real, imagined, steps)
    console.print(comparison_table(comparison, title=f"{file} :: {call}, real vs imagined"))
    console.print(f"real:     {status_line(real)}")
    console.print(f"imagined: {status_line(imagined)}")
    console.print(comparison.summary())


@app.command()
def serve(
    model: Annotated[
        Path | None, typer.Argument(help="Model directory (HF layout); default models/cwm-tiny.")
    ] = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on (no authentication!).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve a model on the OpenAI API (/v1/completions, /v1/chat/completions, /v1/models, /health); docs/serving.md."""
    from opencwm.world.serve import create_app, listen, run

    path = world_model_dir(model).resolve()
    try:
        sock = listen(host, port)
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    backend = load_local_backend(path)
    typer.echo(
        f"serving {path.name} ({backend.context_tokens}-token context) on "
        f"http://{host}:{sock.getsockname()[1]}/v1; Ctrl-C stops",
        err=True,
    )
    run(create_app(backend, path.name), sock)


# ---- the neural debugger (issue 5): its own module, registered here ---------------

from opencwm.debug.cli import debug as _debug  # noqa: E402  (typer only: start-up stays light)

app.command(name="debug")(_debug)


# ---- evaluation: eval trace, eval output (issue 4, item 6) ------------------------

eval_app = typer.Typer(
    help="Measure a world model against the real interpreter.", no_args_is_help=True
)
app.add_typer(eval_app, name="eval")


def _sampling(max_tokens: int | None):
    from opencwm.world.backends import Sampling

    return Sampling() if max_tokens is None else Sampling(max_tokens=max_tokens)


@eval_app.command("trace")
def eval_trace(
    data: Annotated[Path, typer.Option(help="A corpus built by `opencwm data build`.")],
    model: ModelOpt = None,
    endpoint: EndpointOpt = None,
    served_model: ServedOpt = None,
    split: Annotated[str, typer.Option(help="train, val or test.")] = "test",
    limit: Annotated[int | None, typer.Option(help="Evaluate the first N traces only.")] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Report (JSON); the PNG goes beside it. Default runs/eval-trace-TIME.json."
        ),
    ] = None,
    max_frames: Annotated[
        int | None, typer.Option(help="Cap on free-running frames (default 2n + 16 per trace).")
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option(help="Tokens the model may write per frame (default 512).")
    ] = None,
    teacher_forced: Annotated[
        bool, typer.Option(help="Score one-step predictions from the true prefix.")
    ] = True,
    free_running: Annotated[bool, typer.Option(help="Score whole rollouts.")] = True,
    batch_size: Annotated[
        int | None,
        typer.Option(
            help="Frames decoded side by side (steps; rollouts in lockstep); 1 = one at a "
            "time. Default: the fastest measured (docs/evaluation.md)."
        ),
    ] = None,
) -> None:
    """Teacher-forced and free-running accuracy on a corpus split, by source, value type and length."""
    import json
    import time

    from rich.console import Console

    from opencwm.data.progress import progress_bar
    from opencwm.eval import EvalError
    from opencwm.eval.report import plot_by_length, tables
    from opencwm.eval.trace_eval import TraceEvalConfig, evaluate, load_cases
    from opencwm.world.backends import BackendError

    if not (teacher_forced or free_running):
        raise fail("nothing to do: both --no-teacher-forced and --no-free-running given")
    if batch_size is not None and batch_size < 1:
        raise fail(f"--batch-size must be at least 1, got {batch_size}")
    try:
        load_cases(data, split, 1)  # a bad corpus fails before the model loads
    except EvalError as exc:
        raise fail(str(exc)) from None
    backend, label = model_backend(model, endpoint, served_model)
    config = TraceEvalConfig(
        data=data,
        split=split,
        limit=limit,
        sampling=_sampling(max_tokens),
        max_frames=max_frames,
        teacher_forced=teacher_forced,
        free_running=free_running,
        model=label,
        **({"batch_size": batch_size} if batch_size else {}),
    )
    out = out or Path("runs") / f"eval-trace-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        modes = " + ".join(m for m, on in (("TF", teacher_forced), ("FR", free_running)) if on)
        what = f"evaluating on {data.name}/{split}, traces x ({modes})"
        with progress_bar(what, failures=False) as advance:
            report = evaluate(
                config, backend, on_start=advance.set_total, on_case=lambda _: advance(1)
            )
    except (EvalError, BackendError) as exc:
        raise fail(str(exc)) from None
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    plot = out.with_suffix(".png")
    plot_by_length(report, plot)
    console = Console()
    for table in tables(report):
        console.print(table)
    typer.echo(f"report: {out}; accuracy vs trace length: {plot}")


@eval_app.command("loss")
def eval_loss(
    data: Annotated[Path, typer.Option(help="A corpus built by `opencwm data build`.")],
    model: Annotated[Path, typer.Option(help="A model directory (HF layout).")] = Path(
        "models/cwm-tiny"
    ),
    split: Annotated[str, typer.Option(help="train, val or test.")] = "test",
    limit: Annotated[int | None, typer.Option(help="The first N traces only.")] = None,
) -> None:
    """Teacher-forced loss and accuracy on every frame token of a split, in training's windows; prints one JSON line."""
    import json

    from opencwm.eval import EvalError
    from opencwm.eval.loss_eval import heldout_loss

    if not (model / "config.json").exists():
        raise fail(f"{model} is not a model directory (no config.json)")
    try:
        typer.echo(json.dumps(heldout_loss(model, data, split, limit)))
    except EvalError as exc:
        raise fail(str(exc)) from None


@eval_app.command("output")
def eval_output(
    data: Annotated[
        Path, typer.Option(help="CRUXEval-format JSON Lines: code, input, output, id.")
    ],
    model: ModelOpt = None,
    endpoint: EndpointOpt = None,
    served_model: ServedOpt = None,
    limit: Annotated[int | None, typer.Option(help="Evaluate the first N problems only.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write every prediction here (JSON).")] = None,
    max_frames: Annotated[
        int | None, typer.Option(help="Stop a rollout after this many frames.")
    ] = None,
    max_tokens: Annotated[
        int | None, typer.Option(help="Tokens the model may write per frame (default 512).")
    ] = None,
) -> None:
    """CRUXEval-O: predict f(input) by rollout, grade `assert OUTPUT == PREDICTION` in the sandbox; prints pass@1 last."""
    import json
    from dataclasses import replace

    from opencwm.data.progress import progress_bar
    from opencwm.eval import EvalError
    from opencwm.eval.output_eval import (
        OutputEvalConfig,
        evaluate_outputs,
        load_problems,
        pass_line,
    )
    from opencwm.sandbox.bwrap import SandboxUnavailable
    from opencwm.world.backends import BackendError
    from opencwm.world.rollout import RolloutConfig

    try:
        load_problems(data, 1)  # a bad file fails before the model loads
    except EvalError as exc:
        raise fail(str(exc)) from None
    backend, label = model_backend(model, endpoint, served_model)
    rollout = RolloutConfig(sampling=_sampling(max_tokens))
    if max_frames is not None:
        rollout = replace(rollout, max_frames=max_frames)
    config = OutputEvalConfig(data=data, limit=limit, rollout=rollout, model=label)
    try:
        with progress_bar(f"predicting {data.name}") as advance:
            report = evaluate_outputs(
                config,
                backend,
                on_start=advance.set_total,
                on_item=lambda item: advance(1, failed=not item["passed"]),
            )
    except (EvalError, BackendError, SandboxUnavailable) as exc:
        raise fail(str(exc)) from None
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        typer.echo(f"predictions: {out}")
    typer.echo(pass_line(report))


@eval_app.command("nl")
def eval_nl(
    data: Annotated[Path, typer.Option(help="A corpus built by `opencwm data build`.")],
    model: ModelOpt = None,
    endpoint: EndpointOpt = None,
    served_model: ServedOpt = None,
    split: Annotated[str, typer.Option(help="train, val or test.")] = "test",
    limit: Annotated[int | None, typer.Option(help="Evaluate the first N traces only.")] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Report (JSON); the PNG goes beside it. Default runs/eval-nl-TIME.json."),
    ] = None,
    narrated: Annotated[
        bool,
        typer.Option(
            "--narrated",
            help="The model writes English; detected for a model directory trained "
            "on narrated corpora only (`opencwm data narrate`).",
        ),
    ] = False,
    max_tokens: Annotated[
        int | None, typer.Option(help="Tokens the model may write per step (default 512).")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Steps decoded side by side.")] = None,
) -> None:
    """Narration parsed back into facts and scored against the real run (docs/evaluation.md)."""
    import json
    import time

    from rich.console import Console

    from opencwm.data.narrate import narrates
    from opencwm.data.progress import progress_bar
    from opencwm.eval import EvalError
    from opencwm.eval.nl_eval import NlEvalConfig, evaluate_nl, nl_tables, plot_nl
    from opencwm.eval.trace_eval import load_cases
    from opencwm.world.backends import BackendError

    try:
        cases = len(load_cases(data, split, limit))  # a bad corpus fails before the model loads
    except EvalError as exc:
        raise fail(str(exc)) from None
    narrated = narrated or (endpoint is None and narrates(world_model_dir(model)))
    backend, label = model_backend(model, endpoint, served_model)
    config = NlEvalConfig(
        data=data,
        split=split,
        limit=limit,
        sampling=_sampling(max_tokens),
        narrating=narrated,
        model=label,
        **({"batch_size": batch_size} if batch_size else {}),
    )
    out = out or Path("runs") / f"eval-nl-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with progress_bar(f"narrating {data.name}/{split}", failures=False) as advance:
            advance.set_total(cases)
            report = evaluate_nl(config, backend, on_case=lambda _: advance(1))
    except (EvalError, BackendError) as exc:
        raise fail(str(exc)) from None
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    plot = out.with_suffix(".png")
    plot_nl(report, plot)
    console = Console()
    for table in nl_tables(report):
        console.print(table)
    typer.echo(f"report: {out}; plot: {plot}")


# ---- termination prediction (issue 8): its own module, registered here ----------

from opencwm.halt.cli import eval_halt as _eval_halt  # noqa: E402  (typer only)
from opencwm.halt.cli import halt as _halt  # noqa: E402

app.command(name="halt")(_halt)
eval_app.command("halt")(_eval_halt)


# ---- distributed systems (issue 17): eval distributed -----------------------------


@eval_app.command("distributed")
def eval_distributed(
    data: Annotated[Path, typer.Option(help="A corpus built with --source distributed:N.")],
    model: ModelOpt = None,
    endpoint: EndpointOpt = None,
    served_model: ServedOpt = None,
    split: Annotated[str, typer.Option(help="train, val or test.")] = "test",
    limit: Annotated[int | None, typer.Option(help="Evaluate the first N runs only.")] = None,
    steps: Annotated[int, typer.Option(help="Next-event positions scored per run.")] = 8,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Report (JSON); the PNG goes beside it. Default runs/eval-distributed-TIME.json."
        ),
    ] = None,
) -> None:
    """Next-event, final-state and outcome (ok / deadlock / inconsistent) accuracy on distributed runs, by node count and bug."""
    import json
    import time

    from rich.console import Console
    from rich.table import Table

    from opencwm.eval import EvalError
    from opencwm.eval.distributed_eval import (
        DistributedEvalConfig,
        evaluate,
        load_cases,
        plot,
        table_rows,
    )
    from opencwm.world.backends import BackendError

    try:
        load_cases(data, split, 1)  # a bad corpus fails before the model loads
    except EvalError as exc:
        raise fail(str(exc)) from None
    backend, label = model_backend(model, endpoint, served_model)
    config = DistributedEvalConfig(data, split, limit, steps, model=label)
    out = out or Path("runs") / f"eval-distributed-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        report = evaluate(config, backend)
    except (EvalError, BackendError) as exc:
        raise fail(str(exc)) from None
    out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    plot(report, out.with_suffix(".png"))
    table = Table(title=f"{label} on {data.name} [{split}]")
    for col in ("by", "group", "runs", "next event", "final state", "outcome"):
        table.add_column(col)
    for by, group, r in table_rows(report):
        figures = [f"{r[m]:.1%}" for m in ("next_event", "final_state", "outcome")]
        table.add_row(by, group, str(r["runs"]), *figures)
    Console().print(table)
    base = report["majority_outcome"]
    typer.echo(f"majority-outcome baseline ({base['label']}): {base['accuracy']:.1%}")
    typer.echo(f"report: {out}; plot: {out.with_suffix('.png')}")


# ---- asynchronous RL (issue 7): its own module, registered here -------------------

from opencwm.rl.cli import rl as _rl  # noqa: E402  (typer only: start-up stays light)

app.command(name="rl")(_rl)
