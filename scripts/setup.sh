#!/usr/bin/env bash
# Sets up aejax on a fresh machine; safe to run again (it skips what is done).
#   1. a virtualenv in .venv (Python >= 3.11) with aejax and its test extras;
#   2. aeon 1.6.0 without its dependencies, for the UCR/UEA .ts files it
#      ships (aejax/data/timeseries.py);
#   3. Fashion-MNIST: Debian's dataset-fashion-mnist package (IDX files in
#      /usr/share/datasets/fashion-mnist); where apt is unavailable, TFDS
#      downloads and prepares it instead.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${AEJAX_VENV:-.venv}"
DATA_DIR=/usr/share/datasets/fashion-mnist

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "aejax needs Python >= 3.11; $PYTHON is $("$PYTHON" --version 2>&1)." \
       "Set PYTHON=/path/to/python3.11." >&2
  exit 1
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
fi

# Reinstall only when pyproject.toml changed since the last install.
stamp="$VENV/.aejax-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[setup] installing aejax and its dependencies into $VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e ".[test]"
  echo "$want" > "$stamp"
fi

# The UCR/UEA time-series sets (experiments/recurrent_*.py) are the .ts files
# inside aeon's wheel; aejax reads them itself, so aeon's own dependencies
# (numba, pandas, ...) are not needed: --no-deps.
if ! "$VENV/bin/python" -c 'import importlib.util, sys
sys.exit(importlib.util.find_spec("aeon") is None)'; then
  echo "[setup] installing aeon 1.6.0 (its bundled data sets; --no-deps)"
  "$VENV/bin/python" -m pip install --quiet --no-deps "aeon==1.6.0"
fi

if [ ! -f "$DATA_DIR/train-images-idx3-ubyte.gz" ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && sudo="sudo"
  if command -v apt-get >/dev/null && \
     { $sudo apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
       { $sudo apt-get update -q >/dev/null 2>&1 && \
         $sudo apt-get install -y -q dataset-fashion-mnist >/dev/null; }; }; then
    echo "[setup] installed Debian's dataset-fashion-mnist into $DATA_DIR"
  else
    echo "[setup] apt unavailable: preparing Fashion-MNIST through TFDS"
    "$VENV/bin/python" -m aejax.data.tfds_source
  fi
fi
