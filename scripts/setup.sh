#!/usr/bin/env bash
# Sets up aejax on a fresh machine; safe to run again (it skips what is done).
#   1. a virtualenv in .venv (Python >= 3.11) with aejax and its test extras;
#   2. aeon 1.6.0 without its dependencies, for the UCR/UEA .ts files it
#      ships (aejax/data/timeseries.py);
#   3. Fashion-MNIST: Debian's dataset-fashion-mnist package (IDX files in
#      /usr/share/datasets/fashion-mnist); where apt is unavailable, TFDS
#      downloads and prepares it instead;
#   4. tcmalloc (Debian's libtcmalloc-minimal4), which aejax's commands
#      preload (aejax/host_allocator.py); optional: without it they run on
#      the system malloc, slower on CPU.
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

sudo=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && sudo="sudo"
# apt-get install, running apt-get update first if the package is unknown.
apt_install() {
  command -v apt-get >/dev/null && \
    { $sudo apt-get install -y -q "$1" >/dev/null 2>&1 || \
      { $sudo apt-get update -q >/dev/null 2>&1 && \
        $sudo apt-get install -y -q "$1" >/dev/null; }; }
}

if [ ! -f "$DATA_DIR/train-images-idx3-ubyte.gz" ]; then
  if apt_install dataset-fashion-mnist; then
    echo "[setup] installed Debian's dataset-fashion-mnist into $DATA_DIR"
  else
    echo "[setup] apt unavailable: preparing Fashion-MNIST through TFDS"
    "$VENV/bin/python" -m aejax.data.tfds_source
  fi
fi

if ! "$VENV/bin/python" -c 'import sys
from aejax.host_allocator import find_tcmalloc
sys.exit(find_tcmalloc() is None)'; then
  if apt_install libtcmalloc-minimal4; then
    echo "[setup] installed Debian's libtcmalloc-minimal4"
  else
    echo "[setup] could not install libtcmalloc-minimal4: aejax's commands" \
         "will run on the system malloc (slower on CPU)"
  fi
fi
