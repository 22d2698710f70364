"""Corpora slimmed to what training reads, small enough to send to a GPU slot.

A slot takes at most 64 MiB of files, the code included. Training reads two
columns of a row (`windows.py`): `frames`, the trace as JSON, from which
every frame's text is rewritten; and `cwm`, of which only the source before
the first `<|frame_sep|>` and whether the text ends with `<|end_of_text|>`
matter. So a staged row keeps `id`, `frames` and `cwm` cut to
`<|begin_of_text|><|trace_context_start|>SOURCE<|frame_sep|>` (plus
`<|end_of_text|>` if the run ended), written at zstd level 19: the same
training windows for about a third of the bytes.

What a staged corpus cannot do: train a tokenizer (the cut `cwm` holds no
frame text, so the GPU recipe brings the bundled model's tokenizer), or be
evaluated on (the `test` split and the other columns stay behind; evaluate
on the corpus it was staged from).

    python -m opencwm.model.stage data/synth40k data/halting40k --out gpu-stage/corpora \
        --max-rows 20000 --max-rows 8000
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from opencwm.trace import tokens as T
from opencwm.trace.cwm import split_context

SPLITS = ("train", "val")
"""The splits `opencwm train` reads."""

COLUMNS = ("id", "cwm", "frames")
ZSTD_LEVEL = 19
SCHEMA = pa.schema([(name, pa.string()) for name in COLUMNS])


def slim_cwm(text: str) -> str:
    """A trace's text cut to what `row_windows` reads of it: the source, and
    whether the run ended."""
    context, _ = split_context(text)
    head = T.BEGIN_OF_TEXT + T.TRACE_CONTEXT_START + context + T.FRAME_SEP
    return head + (T.END_OF_TEXT if text.endswith(T.END_OF_TEXT) else "")


def shards(corpus: Path, split: str) -> list[Path]:
    """The split's shard files, in the order `iter_rows` reads them."""
    return sorted(corpus.glob(f"{split}-*-of-*.parquet"))


def stage(
    corpus: Path,
    out: Path,
    max_rows: int | None = None,
    advance: Callable[[int], None] | None = None,
) -> dict:
    """Write `corpus`'s train and val rows, slimmed, to `out` (the first
    `max_rows` of each split, as `opencwm train --max-rows` would take them);
    returns the staged manifest. `advance(n)` is told of every n rows done."""
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for split in SPLITS:
        path = out / f"{split}-00000-of-00001.parquet"
        tmp = path.with_name(f".{path.name}.tmp")
        taken = 0
        with pq.ParquetWriter(
            tmp, SCHEMA, compression="zstd", compression_level=ZSTD_LEVEL
        ) as writer:
            for shard in shards(corpus, split):
                for b in pq.ParquetFile(shard).iter_batches(batch_size=512, columns=list(COLUMNS)):
                    if max_rows:
                        b = b.slice(0, max_rows - taken)
                    cwm = [slim_cwm(t) for t in b.column("cwm").to_pylist()]
                    writer.write_table(
                        pa.table([b.column("id"), pa.array(cwm), b.column("frames")], SCHEMA)
                    )
                    taken += b.num_rows
                    if advance:
                        advance(b.num_rows)
                    if max_rows and taken >= max_rows:
                        break
                if max_rows and taken >= max_rows:
                    break
        if taken:
            tmp.replace(path)
        else:  # like a build, an empty split has no shard
            tmp.unlink()
            path.unlink(missing_ok=True)
        counts[split] = taken
    manifest = json.loads((corpus / "manifest.json").read_text())
    manifest["staged"] = {
        "from": str(corpus),
        "columns": list(COLUMNS),
        "cwm": "cut to the source (and <|end_of_text|> if the run ended)",
        "rows": counts,
        "max_rows": max_rows,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def rows_to_stage(corpus: Path, max_rows: int | None) -> int:
    """Rows `stage` will write, read off the shards' metadata (for progress)."""
    total = 0
    for split in SPLITS:
        n = sum(pq.ParquetFile(p).metadata.num_rows for p in shards(corpus, split))
        total += min(n, max_rows) if max_rows else n
    return total


def stage_all(corpora: list[Path], out: Path, caps: list[int]) -> dict[str, dict]:
    """Each corpus into `out/<its name>`, with a progress bar; caps as
    `opencwm train --max-rows` takes them (one for all, or one each; 0 = all)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    caps = caps or [0]
    if len(caps) == 1:
        caps = caps * len(corpora)
    if len(caps) != len(corpora):
        raise ValueError(f"{len(caps)} row caps for {len(corpora)} corpora: give one, or one each")
    names = [c.name for c in corpora]
    if len(set(names)) != len(names):
        raise ValueError(f"corpora must have distinct folder names: {', '.join(names)}")
    for c in corpora:
        if not (c / "manifest.json").exists():
            raise ValueError(
                f"{c} is not a built corpus (no manifest.json); see `opencwm data build`"
            )
    total = sum(rows_to_stage(c, cap or None) for c, cap in zip(corpora, caps, strict=True))
    columns = [
        TextColumn("[bold]staging"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} rows/s"),
        TimeRemainingColumn(),
    ]
    done = {}
    with Progress(*columns) as progress:
        task = progress.add_task("stage", total=total, rate="-")

        def advance(n: int) -> None:
            progress.advance(task, n)
            progress.update(task, rate=f"{progress.tasks[0].speed or 0:.0f}")

        for corpus, cap in zip(corpora, caps, strict=True):
            done[corpus.name] = stage(corpus, out / corpus.name, cap or None, advance)
    return done


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(
        prog="python -m opencwm.model.stage",
        description="Slim built corpora to the columns training reads (zstd 19), "
        "each into OUT/<corpus folder name>.",
    )
    ap.add_argument("corpora", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--max-rows",
        type=int,
        action="append",
        default=[],
        help="first N rows of each split: once for all, or once per corpus; 0 = all",
    )
    args = ap.parse_args(argv)
    try:
        staged = stage_all(args.corpora, args.out, args.max_rows)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name, m in staged.items():
        size = sum(p.stat().st_size for p in (args.out / name).iterdir())
        rows = m["staged"]["rows"]
        mib = size / 2**20
        print(f"{args.out / name}: {rows['train']} train + {rows['val']} val rows, {mib:.2f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
