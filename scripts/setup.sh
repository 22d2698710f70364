#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: bubblewrap (the sandbox) from the
# distribution, and a virtual environment with opencwm and its dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null
  else
    echo "opencwm needs bubblewrap: install it with your package manager (apt-get install bubblewrap)" >&2
    exit 1
  fi
fi
# Debian's chromium and its driver: the debugger's browser test drives them
# (never a downloaded browser). Optional elsewhere: that test skips without them.
if ! { command -v chromium && command -v chromedriver; } >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "note: the browser test needs chromium and chromium-driver (apt-get install chromium chromium-driver)" >&2
  fi
fi
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.opencwm-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  # the CPU build of torch, first: an unpinned torch would pull a multi-GB CUDA build
  .venv/bin/pip install -q "torch==${TORCH_VERSION:-2.13.0}"
  .venv/bin/pip install -q -e '.[dev]'
  touch "$stamp"
fi
