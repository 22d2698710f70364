"""Corpora slimmed to what training reads, small enough to send to a GPU slot.

A slot takes at most 64 MiB of files, the code included. `opencwm train`
reads, per split:

| split | columns | read by |
|---|---|---|
| train | `id`, `cwm`, `frames`, `code` | windows (`windows.py`), decontamination |
| val | `id`, `cwm`, `frames` | windows |
| test | `cwm`, `code` | decontamination (`data/decontam.py`) |

Windows rewrite every frame's text from `frames`; of `cwm` they read only
the source before the first `<|frame_sep|>` and whether the text ends with
`<|end_of_text|>`. Decontamination knows a program by that source, and by
`code` where the two differ. So a staged corpus keeps those columns, with
`cwm` cut to `<|begin_of_text|><|trace_context_start|>SOURCE<|frame_sep|>`
(plus `<|end_of_text|>` if the run ended) and `code` null wherever it is
the context's source again (nearly always: a third of the bytes saved);
all at zstd level 19. The same training windows, and the same rows
dropped, for a small part of the bytes.

What a staged corpus cannot do: train a tokenizer (the cut `cwm` holds no
frame text, so the GPU recipe brings the bundled model's tokenizer), or be
evaluated on (its test rows hold no trace; evaluate on the corpus it was
staged from). A code corpus (`opencwm data code`) stages too: its rows
are plain text, kept whole in `cwm`, with `code` null. A cap
(`--max-rows`) takes the first rows of train and val, as `opencwm train
--max-rows` does, but counts rows before decontamination drops any, so a
capped mixture can train on a few rows fewer; the test split is never
capped.

    python -m opencwm.model.stage data/synth40k data/halting40k --out gpu-stage/corpora \
        --max-rows 0 --max-rows 20000
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from opencwm.data.decontam import context_source
from opencwm.trace import tokens as T
from opencwm.trace.cwm import split_context

COLUMNS = {
    "train": ("id", "cwm", "frames", "code"),
    "val": ("id", "cwm", "frames"),
    "test": ("cwm", "code"),
}
"""What `opencwm train` reads of each split."""
CAPPED = ("train", "val")
ZSTD_LEVEL = 19


def slim_cwm(text: str) -> str:
    """A trace's text cut to what `row_windows` reads of it: the source, and
    whether the run ended. Plain text (a code corpus's row) is all read: kept."""
    if not text.startswith(T.BEGIN_OF_TEXT + T.TRACE_CONTEXT_START):
        return text
    context, _ = split_context(text)
    head = T.BEGIN_OF_TEXT + T.TRACE_CONTEXT_START + context + T.FRAME_SEP
    return head + (T.END_OF_TEXT if text.endswith(T.END_OF_TEXT) else "")


def slim_code(code: str, cwm: str) -> str | None:
    """A row's `code`, or None where decontamination would learn nothing
    from it: the context's source is the same text, or the row is plain
    text (a code corpus's piece: `cwm` holds it again)."""
    if not cwm.startswith(T.BEGIN_OF_TEXT + T.TRACE_CONTEXT_START):
        return None
    return None if code.strip() == context_source(cwm).strip() else code


def shards(corpus: Path, split: str) -> list[Path]:
    """The split's shard files, in the order `iter_rows` reads them."""
    return sorted(corpus.glob(f"{split}-*-of-*.parquet"))


def stage(
    corpus: Path,
    out: Path,
    max_rows: int | None = None,
    advance: Callable[[int], None] | None = None,
) -> dict:
    """Write `corpus`'s rows, slimmed, to `out` (train and val cut at
    `max_rows`); returns the staged manifest. `advance(n)` is told of every
    n rows done."""
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for split, columns in COLUMNS.items():
        cap = max_rows if split in CAPPED else None
        schema = pa.schema([(name, pa.string()) for name in columns])
        path = out / f"{split}-00000-of-00001.parquet"
        tmp = path.with_name(f".{path.name}.tmp")
        taken = 0
        with pq.ParquetWriter(tmp, schema, compression="zstd", compression_level=ZSTD_LEVEL) as w:
            for shard in shards(corpus, split):
                for b in pq.ParquetFile(shard).iter_batches(2048, columns=list(columns)):
                    if cap:
                        b = b.slice(0, cap - taken)
                    rows = {name: b.column(name) for name in columns}
                    full = b.column("cwm").to_pylist()
                    rows["cwm"] = pa.array([slim_cwm(t) for t in full])
                    if "code" in rows:
                        code = rows["code"].to_pylist()
                        rows["code"] = pa.array(list(map(slim_code, code, full)), pa.string())
                    w.write_table(pa.table(rows, schema=schema))
                    taken += b.num_rows
                    if advance:
                        advance(b.num_rows)
                    if cap and taken >= cap:
                        break
                if cap and taken >= cap:
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
        "columns": {split: list(columns) for split, columns in COLUMNS.items()},
        "cwm": "cut to the source (and <|end_of_text|> if the run ended)",
        "rows": counts,
        "max_rows": max_rows,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def rows_to_stage(corpus: Path, max_rows: int | None) -> int:
    """Rows `stage` will write, read off the shards' metadata (for progress)."""
    total = 0
    for split in COLUMNS:
        n = sum(pq.ParquetFile(p).metadata.num_rows for p in shards(corpus, split))
        total += min(n, max_rows) if max_rows and split in CAPPED else n
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
