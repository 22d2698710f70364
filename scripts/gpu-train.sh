#!/usr/bin/env bash
# The GPU recipe: a world model trained in one short GPU slot, brought back here.
#
# A slot (one H200) is rare and short: 15 minutes of device time in all, one
# command of at most 10 minutes, at most 64 MiB of files sent (the code
# included), at most 8 files of at most 16 MiB back
# (/work/.library/device/README.md). So everything that can be done before
# the slot is done before it, and the slot runs one command:
#
#   here:   scripts/gpu-train.sh stage CORPUS... [--max-rows N]... [--stage DIR]
#                                      [--code CODE_CORPUS [--code-rows N]]
#           slims built corpora to the columns training reads (zstd 19) into
#           gpu-stage/corpora/ (git-ignored; name gpu-stage in `carry`), and a
#           plain-code corpus (`opencwm data code`, its first N rows of train
#           and val) into gpu-stage/code/, and checks that what a `run` call
#           sends stays under 64 MiB
#   slot:   scripts/gpu-train.sh train [--preset small] [--limit 580] [--warm DIR]
#                                      [-- MORE `opencwm train` FLAGS]
#           checks python3's packages (the device's own torch and
#           transformers: no .venv, no pip) and that the preset's weights can
#           come back, trains on every staged corpus in bf16 with
#           `opencwm train --time-budget` (the limit less --reserve), and
#           leaves in $OUT the bf16 weights in parts of <= 15 MiB plus
#           model-meta.tar.gz (config loading as fp32, tokenizer, history,
#           curves, train.log): at most 8 files, checked
#   here:   scripts/gpu-train.sh assemble FILES_AT runs/NAME
#           checks every part's sha256 and writes a normal fp32 model
#           directory that `opencwm eval trace --model` loads
#
# The prepared `run` call (command, carry, timeout) and the evaluation that
# follows it: models/cwm-tiny/README.md, "Training on a GPU".
#
# train's options:
#   --preset P     small (default; 50 MiB in bf16), tiny or micro; base (201 MiB)
#                  cannot come back from one slot and is refused before training
#   --limit S      seconds the whole command may run (default 580, for timeout_s 600)
#   --reserve S    seconds of the limit not given to --time-budget: python's start
#                  and exit around training, and packing the model (default 60); if
#                  training overruns, it is stopped PACK_S (20) s before the limit
#                  and its last checkpoint packed
#   --warm DIR     keep training DIR's weights (same preset); default: from scratch
#   --code-frac F  a new run first trains on the staged code corpus, loss on every
#                  token, for this fraction of the training time (e.g. 0.3), into
#                  RUN-code, then goes on from those weights on the traces for the
#                  rest: the CWM recipe in small, at the compute of a run without it
#                  (default 0: traces only)
#   --tokenizer D  the tokenizer of a new model (default models/cwm-tiny: the
#                  staged `cwm` column is cut and cannot train one)
#   --stage DIR    staged corpora (default gpu-stage), --run DIR the run (default
#                  runs/gpu-PRESET; a run already there is resumed)
#   after --, flags for `opencwm train` that override the recipe's (batch 32
#   x 1024 tokens, lr 1e-3, 100 warm-up steps, eval and save every 250 steps,
#   one packing worker per CPU core)
# Environment: PYTHON (train: python3; stage, assemble: .venv/bin/python where
# it exists), OUT (set by the device tool), GPU_TRAIN_CPU=1 (train on the CPU:
# the end-to-end test), GPU_TRAIN_PART_BYTES (weights per part).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
MIB=$((1024 * 1024))
PACK_S=20
TRAVEL_LIMIT=$((64 * MIB))

die() {
    echo "error: $*" >&2
    exit 2
}

local_python() {
    if [[ -n ${PYTHON:-} ]]; then echo "$PYTHON"
    elif [[ -x $ROOT/.venv/bin/python ]]; then echo "$ROOT/.venv/bin/python"
    else echo python3; fi
}

# Bytes a `run` call sends: tracked and untracked-not-ignored files, plus $1.
travel_bytes() {
    local tree
    tree=$(git -C "$ROOT" ls-files -z --cached --others --exclude-standard \
        | (cd "$ROOT" && xargs -0 stat -c %s 2>/dev/null || true) | awk '{s += $1} END {print s + 0}')
    echo $((tree + $(du -sb "$1" | cut -f1)))
}

cmd_stage() {
    local stage="$ROOT/gpu-stage" args=() code="" code_rows=0
    while (($#)); do
        case $1 in
            --stage) stage=$2; shift 2 ;;
            --code) code=$2; shift 2 ;;
            --code-rows) code_rows=$2; shift 2 ;;
            *) args+=("$1"); shift ;;
        esac
    done
    ((${#args[@]})) || die "stage needs at least one built corpus (e.g. data/synth40k)"
    rm -rf "$stage/corpora"
    "$(local_python)" -m opencwm.model.stage "${args[@]}" --out "$stage/corpora"
    rm -rf "$stage/code"
    if [[ -n $code ]]; then
        "$(local_python)" -m opencwm.model.stage "$code" --out "$stage/code" --max-rows "$code_rows"
    fi
    local bytes
    bytes=$(travel_bytes "$stage")
    echo "a run call sends $((bytes / 1024)) KiB with $stage (limit $((TRAVEL_LIMIT / 1024)) KiB)"
    ((bytes <= TRAVEL_LIMIT)) || die "over the 64 MiB a run call sends: stage fewer rows (--max-rows)"
}

cmd_train() {
    local start=$SECONDS preset=small limit=580 reserve=60 warm="" code_frac=0
    local tokenizer="$ROOT/models/cwm-tiny" stage="$ROOT/gpu-stage" run="" extra=()
    while (($#)); do
        case $1 in
            --preset) preset=$2; shift 2 ;;
            --limit) limit=$2; shift 2 ;;
            --reserve) reserve=$2; shift 2 ;;
            --warm) warm=$2; shift 2 ;;
            --code-frac) code_frac=$2; shift 2 ;;
            --tokenizer) tokenizer=$2; shift 2 ;;
            --stage) stage=$2; shift 2 ;;
            --run) run=$2; shift 2 ;;
            --) shift; extra=("$@"); break ;;
            *) die "unknown train option $1; known: --preset --limit --reserve --warm --code-frac --tokenizer --stage --run --" ;;
        esac
    done
    [[ -n ${OUT:-} ]] || die "OUT is not set: it names the folder whose files come back"
    run=${run:-$ROOT/runs/gpu-$preset}
    local py=${PYTHON:-python3} precision=bf16
    if [[ ${GPU_TRAIN_CPU:-} == 1 ]]; then
        export CUDA_VISIBLE_DEVICES=""
        precision=auto
    fi
    local data=()
    for d in "$stage"/corpora/*/; do
        [[ -f $d/manifest.json ]] && data+=(--data "${d%/}")
    done
    ((${#data[@]})) || die "no staged corpora in $stage/corpora: run \`scripts/gpu-train.sh stage\` first and carry $(basename "$stage")"
    local code=()
    if [[ $code_frac != 0 ]]; then
        awk "BEGIN {exit !($code_frac > 0 && $code_frac < 1)}" </dev/null \
            || die "--code-frac $code_frac: give a fraction between 0 and 1"
        for d in "$stage"/code/*/; do
            [[ -f $d/manifest.json ]] && code+=(--data "${d%/}")
        done
        ((${#code[@]})) || die "--code-frac needs a staged code corpus in $stage/code: stage it with --code"
    fi
    if [[ -n $warm ]]; then
        [[ -f $warm/model.safetensors ]] || die "--warm $warm holds no model.safetensors"
        tokenizer=$warm
    fi
    # The device's own packages, then whether the weights can come back: one
    # line and exit 2 before any training if not.
    local found
    found=$(
        "$py" - "${GPU_TRAIN_CPU:-0}" "$preset" "$tokenizer" "$warm" <<'EOF'
import importlib, json, pathlib, sys
for name in ("transformers", "torch", "tokenizers", "safetensors", "pyarrow", "numpy",
             "typer", "rich", "matplotlib"):
    try:
        importlib.import_module(name)
    except ImportError as exc:
        sys.exit(f"error: {sys.executable} cannot import {name} ({exc}); carry it as a wheel "
                 "(device README) or set PYTHON")
import torch, transformers
if not hasattr(transformers, "CwmForCausalLM"):
    sys.exit(f"error: transformers {transformers.__version__} has no CwmForCausalLM (needs 5.x)")
cpu, preset, tokenizer, warm = sys.argv[1:]
if cpu != "1" and not torch.cuda.is_available():
    sys.exit("error: torch sees no CUDA device; set GPU_TRAIN_CPU=1 to train on the CPU")
made = pathlib.Path(warm, "train_config.json")
if warm and made.exists() and json.loads(made.read_text())["preset"] != preset:
    sys.exit(f"error: --warm {warm} is a {json.loads(made.read_text())['preset']} model, "
             f"not {preset}; pass --preset to match")
from opencwm.model.export import ExportError, fits
try:
    size = fits(preset, pathlib.Path(tokenizer))
except (ExportError, ValueError) as exc:
    sys.exit(f"error: {exc}")
where = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, "
      f"transformers {transformers.__version__}, on {where}; "
      f"{preset} is {size / 2**20:.1f} MiB in bf16")
EOF
    ) || exit 2
    mkdir -p "$run" "$OUT"
    local budget=$((limit - reserve - (SECONDS - start)))
    ((budget > 10)) || die "only ${budget}s left to train within --limit $limit; raise it or lower --reserve"
    local common=(--preset "$preset" --precision "$precision" --workers "$(nproc)" --batch-size 32
        --block 1024 --lr 1e-3 --warmup 100 --eval-every 250 --save-every 250)
    if [[ ! -f $run/tokenizer.json ]]; then  # a new run: seed it (a run already there resumes)
        local seed=$warm
        if ((${#code[@]})); then  # the code stage, in a run of its own, seeds this one
            local code_run=$run-code code_budget
            code_budget=$(awk "BEGIN {print int($budget * $code_frac)}" </dev/null)
            mkdir -p "$code_run"
            cp "$tokenizer"/tokenizer.json "$tokenizer"/tokenizer_config.json "$code_run"/
            if [[ -n $warm ]]; then
                cp "$warm"/config.json "$warm"/model.safetensors "$code_run"/
                [[ -f $warm/history.jsonl ]] && cp "$warm"/history.jsonl "$code_run"/
            fi
            printf 'code stage: %s for at most %ss on %s into %s\n' "$preset" "$code_budget" \
                "${code[*]}" "$code_run" | tee -a "$run/train.log"
            set +e
            timeout --signal=INT --kill-after=5 $((code_budget + 30)) \
                "$py" -m opencwm train "${code[@]}" --out "$code_run" "${common[@]}" \
                --loss-on all --time-budget "${code_budget}s" "${extra[@]}" 2>&1 \
                | tee -a "$run/train.log"
            set -e
            [[ -f $code_run/model.safetensors ]] || {
                cp "$run/train.log" "$OUT/train.log"
                die "the code stage left no weights; its log is in \$OUT/train.log"
            }
            seed=$code_run
            budget=$((limit - reserve - (SECONDS - start)))
            ((budget > 10)) || die "only ${budget}s left for the traces after the code stage; lower --code-frac"
        fi
        cp "$tokenizer"/tokenizer.json "$tokenizer"/tokenizer_config.json "$run"/
        if [[ -n $seed ]]; then
            cp "$seed"/config.json "$seed"/model.safetensors "$run"/
            [[ -f $seed/history.jsonl ]] && cp "$seed"/history.jsonl "$run"/
        fi
    fi
    printf '%s\ntraining %s for at most %ss on %s staged corpora into %s\n' \
        "$found" "$preset" "$budget" $((${#data[@]} / 2)) "$run" | tee -a "$run/train.log"
    set +e
    timeout --signal=INT --kill-after=5 $((limit - PACK_S - (SECONDS - start))) \
        "$py" -m opencwm train "${data[@]}" --out "$run" "${common[@]}" \
        --time-budget "${budget}s" "${extra[@]}" 2>&1 | tee -a "$run/train.log"
    local rc=${PIPESTATUS[0]}
    set -e
    if ((rc != 0)); then
        cp "$run/train.log" "$OUT/train.log"
        [[ -f $run/config.json ]] || die "training failed (exit $rc) before its first checkpoint; its log is in \$OUT/train.log"
        local why="failed (exit $rc)"
        ((rc == 124)) && why="ran into the time limit"
        echo "training $why: packing its last checkpoint"
    fi
    "$py" -m opencwm.model.export pack "$run" "$OUT" \
        ${GPU_TRAIN_PART_BYTES:+--part-bytes "$GPU_TRAIN_PART_BYTES"} || exit 2
    rm -f "$OUT/train.log"  # it travels inside model-meta.tar.gz
    # the last gate: everything in $OUT is what comes back, whoever put it there
    local n=0 total=0 size
    for f in "$OUT"/*; do
        size=$(stat -c %s "$f")
        n=$((n + 1)) total=$((total + size))
        ((size <= 16 * MIB)) || die "$f is over the 16 MiB a returned file may be"
    done
    ((n <= 8 && total <= 64 * MIB)) || die "\$OUT holds $n files, $((total / MIB)) MiB: over the 8 files and 64 MiB a slot returns; write nothing else there"
    echo "done in $((SECONDS - start))s: $n files, $((total / 1024)) KiB in \$OUT; here: scripts/gpu-train.sh assemble FILES_AT runs/NAME"
    return $((rc == 0 ? 0 : 3))
}

cmd_assemble() {
    (($# == 2)) || die "assemble FILES_AT DEST: the fetched files, and a new model directory"
    "$(local_python)" -m opencwm.model.export unpack "$1" "$2" || exit 2
    cat <<EOF
next, on this CPU (the model card's held-out sets):
  OMP_NUM_THREADS=1 .venv/bin/opencwm eval trace --model $2 --data data/synth40k --split test --limit 30 --max-tokens 200
  OMP_NUM_THREADS=1 .venv/bin/opencwm eval trace --model $2 --data data/humaneval --split test --limit 8 --max-tokens 200
EOF
}

case ${1:-} in
    stage | train | assemble) sub=$1; shift; "cmd_$sub" "$@" ;;
    *) die "usage: scripts/gpu-train.sh stage|train|assemble ...; see the comment at its top" ;;
esac
