#!/usr/bin/env bash
# The million-trace corpus (issue 19, item 4): every part is one resumable
# `opencwm data build` into $OUT/<part>; docs/benchmarks.md, "The
# million-trace build (issue 19)", has the figures.
#
#   scripts/million.sh                                   # ~1,013,000 traces into data/million
#   SCALE=100 OUT=data/million-trial scripts/million.sh  # a 1% trial (pytest parts run whole)
#   PYTEST_PKGS="inflection toolz" NICE=15 scripts/million.sh
#
# Re-running is safe: a finished part (it has manifest.json) is skipped, a
# killed one resumes from its .build/. A part that fails stops the recipe
# (re-run to resume it). Each attempt appends a line to $OUT/timings.tsv
# (part, wall s, peak RSS KiB, user s, sys s, exit status) from /usr/bin/time;
# scripts/corpus_summary.py turns the manifests, shards and timings into the
# table of traces, tokens, rates, memory and disk.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-data/million}
SCALE=${SCALE:-1}          # divides every generated count (synthetic, halting, contests)
WORKERS=${WORKERS:-2}
NICE=${NICE:-0}
# The 11 packages whose own test suites gave traces here (2026-12-05; traces
# each gave and the ones that gave none: docs/benchmarks.md).
PYTEST_PKGS=${PYTEST_PKGS:-"boltons more-itertools cachetools toolz semver isodate six parse inflection packaging jmespath"}

n() { echo $(( $1 / SCALE > 0 ? $1 / SCALE : 1 )); }

# name | --source | --seed
PARTS=()
for s in 0 1 2 3; do PARTS+=("synthetic-s$s|synthetic:$(n 240000)|$s"); done
for s in 0 1; do PARTS+=("halting-s$s|halting:$(n 20000)|$s"); done
PARTS+=("contests-s0|contests:$(n 10000)|0")
PARTS+=("humaneval|humaneval|0")
for p in $PYTEST_PKGS; do PARTS+=("pytest-$p|pytest:$p|0"); done

mkdir -p "$OUT"
[ -f "$OUT/timings.tsv" ] || printf 'part\twall_s\tpeak_rss_kib\tuser_s\tsys_s\texit\n' > "$OUT/timings.tsv"

for part in "${PARTS[@]}"; do
  IFS='|' read -r name spec seed <<< "$part"
  if [ -f "$OUT/$name/manifest.json" ]; then
    echo "== $name ($spec --seed $seed): done, skipped"
    continue
  fi
  echo "== $name ($spec --seed $seed)"
  rc=0
  /usr/bin/time -a -o "$OUT/timings.tsv" -f "$name\t%e\t%M\t%U\t%S\t%x" \
    nice -n "$NICE" .venv/bin/opencwm data build --source "$spec" --seed "$seed" \
      --out "$OUT/$name" --workers "$WORKERS" || rc=$?
  echo "== $name: $(tail -n 1 "$OUT/timings.tsv" | cut -f2) s, exit $rc"
  if [ "$rc" -ne 0 ]; then
    echo "part $name failed (exit $rc); re-run $0 to resume it" >&2
    exit "$rc"
  fi
done

nice -n "$NICE" .venv/bin/python scripts/corpus_summary.py "$OUT" --cores "$WORKERS"
