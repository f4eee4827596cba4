#!/bin/bash
# One call on the GPU machine (see the README, "Measured"): the CUDA-relevant tests, then DoRaR's
# paper preset on mnist (80 epochs, a1a2 over 5 seeds for DoRaR and the paper's Table III baselines).
# Results land under $OUT (or out/ when run elsewhere). Usage: bash scripts/gpu_check.sh
set -euo pipefail
OUT=${OUT:-out}
mkdir -p "$OUT"
PY=${PY:-python}
export XAI_CACHE_DIR=${XAI_CACHE_DIR:-$OUT/cache}
$PY -c "import torch; print('cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
$PY -m pytest tests/methods/test_dorar.py tests/methods/test_reconstruction.py tests/metrics/test_units.py \
    -p no:xdist -q 2>&1 | tail -3 | tee "$OUT/tests.txt"
for n_e in 4 24; do
  /usr/bin/time -f "train dorar paper n_e=$n_e: %e s" $PY -m xai_core train --dataset mnist --preset paper \
      --device cuda --methods dorar --n-e $n_e 2>&1 | tail -2 | tee -a "$OUT/times.txt"
done
/usr/bin/time -f "a1a2 paper n_e=4: %e s" $PY -m xai_core evaluate --dataset mnist --preset paper --device cuda \
    --methods dorar,gradient,smoothgrad,lime --metrics a1a2 --n-e 4 --n 1000 --json "$OUT/mnist_paper_a1a2_ne4.json" \
    2>&1 | tail -6 | tee -a "$OUT/times.txt"
/usr/bin/time -f "a1a2 paper n_e=24: %e s" $PY -m xai_core evaluate --dataset mnist --preset paper --device cuda \
    --methods dorar --metrics a1a2 --n-e 24 --n 1000 --json "$OUT/mnist_paper_a1a2_ne24.json" \
    2>&1 | tail -3 | tee -a "$OUT/times.txt"
