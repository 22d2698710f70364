"""Is structural decoding sound on real traces? Every rule of
`world/constrain.py` and `world/flow.py` must let the truth through.

Two checks over built corpora (`opencwm data build ...`):

- *pairs*: for every two consecutive frames of a trace (of one actor, in
  a concurrent program) where the first is a call or line frame of the
  second's activation, the second's line is
  among those `ScopeLines.after` allows for its event, its keys among
  `names_after`'s, and every value `unchanged_after` fixes is unchanged;
- *tokens*: the constraints `LocalBackend` builds for each true prefix
  (`--model`'s tokenizer) accept every token of the true next frame; in
  a concurrent program they step aside (counted apart).

Prints the counts and the first refusals; exits 1 if anything was refused.

Run: .venv/bin/python scripts/constraint_soundness.py data/synth40k data/humaneval \\
        [--rows 500] [--token-rows 60] [--model models/cwm-tiny]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pyarrow.parquet as pq

from opencwm.trace import tokens as T
from opencwm.trace.cwm import split_context
from opencwm.world.constrain import ScopeLines


def rows(corpus: Path, limit: int, columns: list[str]):
    """The first `limit` rows of each shard of the corpus."""
    for shard in sorted(corpus.glob("*.parquet")):
        if not shard.name.startswith("rejected"):
            yield from pq.read_table(shard, columns=columns).to_pylist()[:limit]


def check_pairs(corpus: Path, limit: int, refused: list[str]) -> int:
    pairs = 0
    for row in rows(corpus, limit, ["cwm", "frames"]):
        lines = ScopeLines(split_context(row["cwm"])[0])
        frames = json.loads(row["frames"])
        for a, b in same_actor_pairs(frames):
            if b["event"] == "call" or a["event"] not in ("call", "line"):
                continue
            if a["depth"] != b["depth"]:
                continue
            pairs += 1
            allowed = lines.after(a["event"], a["source"])
            if allowed is not None and b["source"] not in allowed[b["event"]]:
                refused.append(f"line: {a['source']!r} -> {b['event']} {b['source']!r}")
            if b["event"] != "line":
                continue
            names = lines.names_after(a["event"], a["source"])
            if names is not None and not set(b["locals"]) - set(a["locals"]) <= names:
                refused.append(f"names: {a['source']!r} -> {sorted(b['locals'])}")
            for k in lines.unchanged_after(a["event"], a["source"], a["locals"]):
                if b["locals"].get(k) != a["locals"][k]:
                    refused.append(f"unchanged: {a['source']!r} changed {k}")
    return pairs


def same_actor_pairs(frames: list[dict]):
    """Each frame with the frame before it of the same actor (every frame
    but the first, in a trace of one activity); message frames aside."""
    last: dict[str | None, dict] = {}
    for b in frames:
        if b["event"] in ("send", "recv"):
            continue
        a = last.get(b.get("actor"))
        last[b.get("actor")] = b
        if a is not None:
            yield a, b


def check_tokens(corpus: Path, limit: int, backend, refused: list[str], aside: list[int]) -> int:
    tok = backend.tokenizer
    frames = 0
    for row in rows(corpus, limit, ["cwm"]):
        parts = row["cwm"].split(T.FRAME_SEP)
        prompt = parts[0] + T.FRAME_SEP
        for part in parts[1:]:
            if part in ("", T.END_OF_TEXT):
                break
            text = part + T.FRAME_SEP
            guide, keys = backend._constraint(prompt)
            if guide is None:  # a concurrent context: structural decoding steps aside
                aside[0] += 1
                prompt += text
                continue
            for t in tok(text, add_special_tokens=False)["input_ids"]:
                allowed = guide.allowed()
                if (allowed is not None and t not in allowed) or not keys.accepts(t):
                    refused.append(f"token {tok.decode([t])!r} of {text[:120]!r}")
                    break
                guide.advance(t)
                keys.advance(t)
            frames += 1
            prompt += text
    return frames


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("corpora", nargs="+", type=Path)
    p.add_argument("--rows", type=int, default=500, help="rows per shard for the pair check")
    p.add_argument("--token-rows", type=int, default=60, help="rows per shard for tokens")
    p.add_argument("--model", default="models/cwm-tiny", help="its tokenizer is used")
    args = p.parse_args(argv)
    from opencwm.world.backends import LocalBackend

    backend = LocalBackend(args.model)
    refused: list[str] = []
    pairs = sum(check_pairs(c, args.rows, refused) for c in args.corpora)
    aside = [0]
    frames = sum(check_tokens(c, args.token_rows, backend, refused, aside) for c in args.corpora)
    print(f"pairs checked: {pairs}; frames checked token by token: {frames}")
    if aside[0]:
        print(f"frames of concurrent programs, decoded without constraints: {aside[0]}")
    print(f"refused: {len(refused)}")
    for line in refused[:20]:
        print("  " + line)
    out = {"pairs": pairs, "frames": frames, "unconstrained": aside[0], "refused": len(refused)}
    print(json.dumps(out))
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
