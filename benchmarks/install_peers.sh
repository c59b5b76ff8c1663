#!/usr/bin/env bash
# Install the peers nwave is compared with (benchmarks/bench_peers.py, docs/migration.md, the
# NIR round-trip tests) WITHOUT touching the installed torch.
#
# Their published requirements would replace the pinned CPU torch: SpikingJelly and Norse
# require torchvision (and SpikingJelly torchaudio), which pull a matching torch, a multi-GB CUDA
# build on Linux. None of the parts nwave uses imports torchvision or torchaudio, so the peers go
# in with --no-deps, followed by the few requirements they do import.
#
#   pip install torch==2.13.0 && pip install -e ".[dev]"
#   bash benchmarks/install_peers.sh
set -euo pipefail

PYTHON="${PYTHON:-python}"
before="$("$PYTHON" -c 'import torch; print(torch.__version__)')"

# the peers themselves, pinned: docs/migration.md names the versions it was measured with
"$PYTHON" -m pip install --quiet --no-deps \
    "snntorch==1.0.0" "norse==1.1.0" "spikingjelly==2.0.0" "nir==1.0.8" "nirtorch==2.6"
# what they import: pure Python or plain binary wheels, none of which requires torch
"$PYTHON" -m pip install --quiet numpy h5py "loguru>=0.7,<1" tqdm packaging

after="$("$PYTHON" -c 'import torch; print(torch.__version__)')"
if [ "$before" != "$after" ]; then
    echo "install_peers.sh: torch changed from $before to $after" >&2
    exit 1
fi
"$PYTHON" - <<'PY'
import norse.torch, snntorch, spikingjelly.activation_based.neuron, nir, nirtorch, torch
from importlib.metadata import version
print("peers:", ", ".join(f"{n} {version(n)}" for n in ("snntorch", "norse", "spikingjelly", "nir", "nirtorch")),
      f"(torch {torch.__version__} kept)")
PY
