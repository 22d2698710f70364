"""A trained model packed to come back from a GPU slot, and unpacked here.

A slot returns at most 8 files of at most 16 MiB each, 64 MiB in all
(/work/.library/device/README.md). So the weights travel as bf16
safetensors parts of at most 15 MiB (transformers' own sharding, with its
index), and everything else (config, tokenizer, history, curves, the
training log, and a sha256 of every part) as one `model-meta.tar.gz`. The
config says `dtype: float32`, so the parts load as fp32 on a CPU, where
bf16 matmuls are slow or emulated. Halving the bytes costs the weights
their low mantissa bits; the matmuls already ran in bf16 under autocast,
so the logits move within bf16 rounding (tests/model/test_gpu_recipe.py).

`unpack` turns the fetched files into a normal model directory (one fp32
`model.safetensors`, as `opencwm train` writes): `eval`, `demo`, a warm
start and `rl` read it like any other.

`fits` runs before training (scripts/gpu-train.sh): a preset whose bf16
weights cannot come back in one slot (`base`: 201 MiB) is refused before
any GPU time is spent, rather than trained and lost.

    python -m opencwm.model.export pack RUN OUT
    python -m opencwm.model.export unpack FILES DEST
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

MIB = 2**20
MAX_FILES = 8
MAX_FILE = 16 * MIB
MAX_TOTAL = 64 * MIB
PART = 15 * MIB
"""Weights per part: a MiB under the limit, for safetensors' header."""
META = "model-meta.tar.gz"
META_ROOM = 4 * MIB
"""What the fits check allows for the meta archive (a long warm-started
history compresses to well under 1 MiB)."""
SIDE_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "history.jsonl",
    "train_config.json",
    "curves.png",
    "train.log",
)
"""Files of a run that travel in the meta archive, where they exist."""


class ExportError(RuntimeError):
    """A model that cannot be packed or unpacked; the message is one line
    and says what to do."""


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(MIB), b""):
            h.update(block)
    return h.hexdigest()


def fits(preset: str, tokenizer_dir: Path, part: int = PART) -> int:
    """The bf16 bytes of `preset`'s weights; raises ExportError if they
    cannot come back from one slot."""
    import torch
    from transformers import CwmForCausalLM

    from opencwm.model.presets import cwm_config
    from opencwm.model.tokenizer import load_tokenizer

    with torch.device("meta"):  # shapes only, no memory
        model = CwmForCausalLM(cwm_config(preset, load_tokenizer(tokenizer_dir)))
    size = 2 * sum(p.numel() for p in model.parameters())
    parts = math.ceil(size / part)
    if parts + 1 > MAX_FILES or size + META_ROOM > MAX_TOTAL:
        raise ExportError(
            f"preset {preset} is {size / 2**20:.0f} MiB in bf16 ({parts} parts of "
            f"{part / MIB:.0f} MiB): over what a slot returns ({MAX_FILES} files, "
            f"{MAX_TOTAL // MIB} MiB in all); train a smaller preset (small is 50 MiB)"
        )
    return size


def pack(run: Path, out: Path, part: int = PART) -> list[Path]:
    """Write `run`'s model to `out` as bf16 parts plus the meta archive, and
    check them against a slot's limits; returns the files written."""
    import torch
    from transformers import CwmForCausalLM

    if not (run / "config.json").exists():
        raise ExportError(f"{run} holds no saved model (no config.json): training saved nothing")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=run) as tmp_name:
        tmp = Path(tmp_name)
        model = CwmForCausalLM.from_pretrained(run, dtype=torch.float32)
        model.to(torch.bfloat16).save_pretrained(tmp, max_shard_size=part)
        config = json.loads((tmp / "config.json").read_text())
        config["dtype"] = "float32"  # loads as fp32: what a CPU runs fast
        (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        parts = sorted(tmp.glob("*.safetensors"))
        (tmp / "parts.json").write_text(
            json.dumps({p.name: sha256(p) for p in parts}, indent=2) + "\n"
        )
        with tarfile.open(out / META, "w:gz") as tar:
            for p in sorted(tmp.iterdir()):
                if p.suffix != ".safetensors":
                    tar.add(p, arcname=p.name)
            for name in SIDE_FILES:
                if (run / name).exists() and not (tmp / name).exists():
                    tar.add(run / name, arcname=name)
        for p in parts:
            shutil.move(p, out / p.name)
    written = [out / p.name for p in parts] + [out / META]
    check_limits(written)
    return written


def check_limits(files: list[Path]) -> None:
    """What a slot can return: raises ExportError naming the first breach."""
    sizes = {f.name: f.stat().st_size for f in files}
    if len(files) > MAX_FILES:
        raise ExportError(
            f"{len(files)} files, over the {MAX_FILES} a slot returns: "
            "train a smaller preset, or raise the part size (at most 16 MiB)"
        )
    for name, size in sizes.items():
        if size > MAX_FILE:
            raise ExportError(
                f"{name} is {size:,} bytes, over the {MAX_FILE:,} (16 MiB) a file may be"
            )
    if sum(sizes.values()) > MAX_TOTAL:
        raise ExportError(
            f"{sum(sizes.values()) / MIB:.1f} MiB in all, over the {MAX_TOTAL // MIB} MiB "
            "a slot returns: train a smaller preset"
        )


def unpack(files: Path, dest: Path) -> Path:
    """A normal fp32 model directory at `dest` from the files `pack` wrote
    (checked against their sha256); refuses to write over a model."""
    import torch
    from transformers import CwmForCausalLM

    if not (files / META).exists():
        raise ExportError(f"{files} has no {META}: not the files of a GPU run")
    if (dest / "config.json").exists():
        raise ExportError(f"{dest} already holds a model; unpack to a new directory")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with tarfile.open(files / META) as tar:
            tar.extractall(tmp, filter="data")
        for name, digest in json.loads((tmp / "parts.json").read_text()).items():
            if not (files / name).exists():
                raise ExportError(f"part {name} is missing from {files}: fetch every file")
            if sha256(files / name) != digest:
                raise ExportError(
                    f"part {name} in {files} is damaged (sha256 differs): fetch again"
                )
            shutil.copy(files / name, tmp / name)
        model = CwmForCausalLM.from_pretrained(tmp, dtype=torch.float32)
        dest.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(dest, max_shard_size="100GB")  # one model.safetensors
        for name in SIDE_FILES:
            if (tmp / name).exists() and not (dest / name).exists():
                shutil.copy(tmp / name, dest / name)
    return dest


def main(argv: list[str] | None = None) -> int:
    import argparse

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    ap = argparse.ArgumentParser(prog="python -m opencwm.model.export", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack", help="RUN's model as bf16 parts + meta archive in OUT")
    p.add_argument("run", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--part-bytes", type=int, default=PART)
    u = sub.add_parser("unpack", help="fetched FILES into a normal fp32 model directory DEST")
    u.add_argument("files", type=Path)
    u.add_argument("dest", type=Path)
    args = ap.parse_args(argv)
    try:
        if args.cmd == "pack":
            for path in pack(args.run, args.out, args.part_bytes):
                print(f"{path}: {path.stat().st_size / MIB:.2f} MiB")
        else:
            print(f"{unpack(args.files, args.dest)}: fp32 model ready")
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
