"""Packing training rows: N worker processes vs one, and what decontamination costs.

`opencwm train` turns a corpus's training rows into packed token rows once
per run (then caches them). This times, in one process, on the same rows
and tokenizer: reading the rows with decontamination on (and the test
programs it collects first), then windowing and packing them serially
(the baseline) and with `--workers N` (process start-up included). The
two packings must be byte-identical; the script fails if not.

    .venv/bin/python benchmarks/pack_speed.py --data DIR [--data DIR2] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", action="append", required=True, help="a built corpus; repeat")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--block", type=int, default=1024)
    ap.add_argument("--vocab-size", type=int, default=2048)
    args = ap.parse_args()

    from opencwm.data.decontam import Decontam, held_out_programs
    from opencwm.model.tokenizer import PAD, train_tokenizer
    from opencwm.model.train import TrainConfig, corpus_rows
    from opencwm.model.windows import Windower, pack

    c = TrainConfig(data=args.data, out="", block=args.block)
    corpus_rows(c, "train")  # a first read, untimed, warms the page cache for both timings
    t = time.perf_counter()
    test = held_out_programs(Path(d) for d in args.data)
    collect_s = time.perf_counter() - t
    t = time.perf_counter()
    plain = corpus_rows(c, "train")
    read_s = time.perf_counter() - t
    t = time.perf_counter()
    clean = Decontam(test)
    rows = corpus_rows(c, "train", clean=clean)
    read_clean_s = time.perf_counter() - t
    tok = train_tokenizer((r["cwm"] for r in rows), args.vocab_size)  # outside every clock
    pad = tok.convert_tokens_to_ids(PAD)

    packed, seconds = {}, {}
    for workers in (1, args.workers):
        t = time.perf_counter()
        with Windower(tok, args.block + 1, workers=workers) as windows:
            packed[workers] = pack(windows(rows), args.block, pad)
        seconds[workers] = time.perf_counter() - t
    one, many = packed[1], packed[args.workers]
    pairs = zip(one, many, strict=True)
    same = all(a.dtype == b.dtype and a.tobytes() == b.tobytes() for a, b in pairs)
    assert same, "parallel packing differs from serial"

    dropped = sum(r["dropped"] for r in clean.report()["corpora"].values())
    print(f"{len(rows):,} training rows ({dropped:,} dropped of {len(plain):,}), "
          f"{len(one[0]):,} packed rows of {args.block + 1} tokens; "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"{'step':<36}{'seconds':>10}")
    print(f"{'collect test programs':<36}{collect_s:>10.2f}")
    print(f"{'read train rows':<36}{read_s:>10.2f}")
    print(f"{'read train rows, decontaminated':<36}{read_clean_s:>10.2f}")
    print(f"{'window + pack, 1 process':<36}{seconds[1]:>10.2f}")
    print(f"{f'window + pack, {args.workers} processes':<36}{seconds[args.workers]:>10.2f}")
    speedup = seconds[1] / seconds[args.workers]
    print(f"speed-up with {args.workers} processes: {speedup:.2f}x (byte-identical)")
    print(json.dumps({
        "rows": len(rows), "dropped": dropped, "workers": args.workers,
        "collect_s": round(collect_s, 3), "read_s": round(read_s, 3),
        "read_decontaminated_s": round(read_clean_s, 3),
        "serial_s": round(seconds[1], 3), "parallel_s": round(seconds[args.workers], 3),
        "speedup": round(speedup, 3),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
