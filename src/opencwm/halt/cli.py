"""`opencwm halt` and `opencwm eval halt`, registered by `opencwm.cli`.

Imports only typer at module level, so `opencwm trace` stays light; the
model, torch and the sandbox load inside the commands. Programs are only
ever run in the sandbox, under a wall-clock and frame budget.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from opencwm.cli_options import EndpointOpt, InputOpt, ModelOpt, ServedOpt
from opencwm.cli_support import fail, model_backend, read_text

FramesOpt = Annotated[int, typer.Option(help="Frames the world model may imagine per run.")]
TokensOpt = Annotated[int, typer.Option(help="Tokens the model may write per frame.")]


def halt(
    file: Annotated[Path, typer.Argument(help="Python file holding the function.")],
    entry: Annotated[
        str | None,
        typer.Option(help="Function to call (default: the one marked # << START_OF_TRACE)."),
    ] = None,
    input: InputOpt = None,
    model: ModelOpt = None,
    endpoint: EndpointOpt = None,
    served_model: ServedOpt = None,
    predictor: Annotated[
        str, typer.Option(help="world (the model), execute (budgeted real run) or both.")
    ] = "both",
    calibration: Annotated[
        Path | None, typer.Option(help="A calibration from `opencwm eval halt` (its JSON).")
    ] = None,
    max_frames: FramesOpt = 48,
    max_tokens: TokensOpt = 200,
    timeout: Annotated[
        float, typer.Option(help="Wall-clock budget of the real run, seconds.")
    ] = 2.0,
) -> None:
    """Will f(input) halt? Verdict, confidence and evidence (world model, sandboxed run)."""
    from opencwm.debug.cli import file_input
    from opencwm.halt.predictors import ExecBudget, HaltError, ImagineBudget, execute, imagine
    from opencwm.sandbox.bwrap import SandboxUnavailable
    from opencwm.world.backends import BackendError

    if predictor not in ("world", "execute", "both"):
        raise fail(f"unknown predictor {predictor!r}; known: world, execute, both")
    if max_frames < 2 or max_tokens < 1 or timeout <= 0:
        raise fail("--max-frames must be at least 2, --max-tokens and --timeout positive")
    source = read_text(file, "file")
    args = input if input is not None else (file_input(source)[0] or "")
    calib = _load_calibration(calibration)
    verdicts = []
    try:
        if predictor in ("execute", "both"):
            verdicts.append(execute(source, entry, args, ExecBudget(timeout_s=timeout)))
        if predictor in ("world", "both"):
            backend, _ = model_backend(model, endpoint, served_model)
            budget = ImagineBudget(max_frames=max_frames, max_tokens=max_tokens)
            verdicts.insert(0, imagine(source, entry, args, backend, budget, calib))
    except HaltError as exc:
        raise fail(f"{file}: {exc}") from None
    except (BackendError, SandboxUnavailable) as exc:
        raise fail(str(exc)) from None
    names = {"world": "world model", "execute": f"execution ({timeout:g} s budget)"}
    for v in verdicts:
        typer.echo(f"{names[v.predictor]}: {v.label} (p_halts {v.p_halts:.2f}) — {v.evidence}")


def _load_calibration(path: Path | None):
    if path is None:
        return None
    from opencwm.halt.calibrate import Calibration

    try:
        return Calibration.load(path)
    except ValueError as exc:
        raise fail(str(exc)) from None


def eval_halt(
    data: Annotated[
        Path,
        typer.Option(help="A `halting:N` corpus directory, or JSONL: code, entry, input, label."),
    ],
    model: ModelOpt = None,
    endpoint: EndpointOpt = None,
    served_model: ServedOpt = None,
    split: Annotated[str, typer.Option(help="Split scored, for a corpus directory.")] = "test",
    limit: Annotated[int | None, typer.Option(help="Score the first N runs only.")] = None,
    calibrate_on: Annotated[
        Path | None,
        typer.Option(
            help="Corpus whose train split fits the calibration (default: --data, a corpus)."
        ),
    ] = None,
    calibration_limit: Annotated[
        int, typer.Option(help="Train runs used to fit the calibration.")
    ] = 200,
    calibration: Annotated[
        Path | None, typer.Option(help="Use this calibration instead of fitting one.")
    ] = None,
    max_frames: FramesOpt = 48,
    max_tokens: TokensOpt = 200,
    out: Annotated[
        Path | None, typer.Option(help="Report (JSON); the PNG and calibration go beside it.")
    ] = None,
) -> None:
    """World model vs budgeted execution (equal wall time) vs constant, on labelled runs."""
    import json
    import random
    import time

    from rich.console import Console

    from opencwm.data.progress import progress_bar
    from opencwm.halt.evaluate import (
        HaltEvalConfig,
        evaluate,
        fit_calibration,
        load_cases,
        plot,
        table,
    )
    from opencwm.halt.predictors import HaltError, ImagineBudget
    from opencwm.sandbox.bwrap import SandboxUnavailable
    from opencwm.world.backends import BackendError

    try:
        cases = load_cases(data, split, limit)  # a bad file fails before the model loads
        train_from = calibrate_on or (data if data.is_dir() and calibration is None else None)
        train = []
        if train_from is not None:
            train = load_cases(train_from, "train")
            random.Random(0).shuffle(train)
            train = train[:calibration_limit]
    except HaltError as exc:
        raise fail(str(exc)) from None
    calib = _load_calibration(calibration)
    backend, label = model_backend(model, endpoint, served_model)
    budget = ImagineBudget(max_frames=max_frames, max_tokens=max_tokens)
    out = out or Path("runs") / f"eval-halt-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        if train:
            with progress_bar(f"calibrating on {train_from}/train", failures=False) as advance:
                advance.set_total(len(train))
                calib = fit_calibration(
                    train, backend, budget, f"{train_from}/train", label, lambda _: advance(1)
                )
            calib.save(out.with_suffix(".calibration.json"))
        config = HaltEvalConfig(str(data), split, label, budget)
        with progress_bar(f"predicting {data.name}", failures=False) as advance:
            advance.set_total(len(cases))
            report = evaluate(cases, backend, config, calib, on_case=lambda _: advance(1))
    except HaltError as exc:
        raise fail(str(exc)) from None
    except (BackendError, SandboxUnavailable) as exc:
        raise fail(str(exc)) from None
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    png = out.with_suffix(".png")
    plot(report, png)
    Console().print(table(report))
    typer.echo(f"report: {out}; plot: {png}")
    summary = {p: report["predictors"][p]["balanced_accuracy"] for p in report["predictors"]}
    typer.echo(json.dumps({"n": report["n"], "balanced_accuracy": summary}))
