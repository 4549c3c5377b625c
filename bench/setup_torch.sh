#!/usr/bin/env bash
# Creates .venv-bench/ at the repository root with torch 2.13.0 (CPU build) for bench/torch_step.py.
# Rerunning it is safe because it reuses an existing environment and skips pip when torch is there.
set -euo pipefail

TORCH_VERSION="2.13.0"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-bench"

if [[ -x "$VENV/bin/python" ]]; then
  echo "setup_torch: reusing the virtual environment $VENV"
else
  echo "setup_torch: creating the virtual environment $VENV with $(python3 --version)"
  python3 -m venv "$VENV"
fi

if "$VENV/bin/python" -c "import sys, torch; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  echo "setup_torch: torch $TORCH_VERSION is already installed"
else
  # pip reads its index and find-links settings from the machine's pip configuration.
  echo "setup_torch: installing torch==$TORCH_VERSION with pip"
  if ! "$VENV/bin/python" -m pip install "torch==$TORCH_VERSION"; then
    cat >&2 <<MSG
setup_torch: pip could not install torch==$TORCH_VERSION (see its output above).
A fallback on Debian or Ubuntu is the system package python3-torch (torch 1.13) together with
libopenblas0-pthread: apt-get install python3-torch libopenblas0-pthread, then run
bench/torch_step.py with /usr/bin/python3. Without OpenBLAS that build uses the reference BLAS,
which reaches only about 6 GFLOP/s, so its timings are not comparable.
MSG
    exit 1
  fi
fi

"$VENV/bin/python" -W ignore::UserWarning -c "import torch; print('setup_torch: ready, torch', torch.__version__, 'in $VENV')"
