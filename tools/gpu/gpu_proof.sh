#!/usr/bin/env bash
# The CUDA path in one short run, on a GPU machine: build against the machine's
# CUDA PyTorch (tools/gpu/build_cuda.sh), make a small fashion-det, train
# SSDLite-MobileNetV3-Small for STEPS steps on the GPU, then the same for 50
# steps as a one-process NCCL group; evaluate the model on the GPU and the CPU
# and run a two-ratio sensitivity on the GPU. Prints the GPU step time and
# images/s, and both APs.
#
#   bash tools/gpu/gpu_proof.sh [STEPS=300] [MNIST_DIR]
#
# On a machine with no package manager, pack the other dependencies and a cut
# of Fashion-MNIST here first (bash tools/gpu/gpu_pack.sh -> .gpu/); this script
# unpacks them. Step 0 lists what the machine has, so a missing piece shows
# before the build.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
STEPS=${1:-300}
MNIST=${2:-/usr/share/datasets/fashion-mnist}
[ -d "$MNIST" ] || MNIST=.gpu/mnist
if [ -f .gpu/deps.tgz ]; then  # the packed versions, even where the machine has some of its own
  mkdir -p /tmp/compress_deps && tar xzf .gpu/deps.tgz -C /tmp/compress_deps
  # shellcheck disable=SC1091
  source /tmp/compress_deps/deps/env.sh
fi
PY=${PYTHON:-python3}
OUT=${OUT:-output/gpu_proof}
mkdir -p "$OUT"

echo "== 0. the machine"
g++ --version | head -1; nvcc --version 2>/dev/null | tail -1
for t in cmake ninja g++ node nvidia-smi; do printf '%-12s %s\n' "$t" "$(command -v $t || echo MISSING)"; done
"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpus", torch.cuda.device_count(),
  "cxx11 abi", torch.compiled_with_cxx11_abi())' || echo "torch: MISSING"
for h in yaml-cpp/yaml.h spdlog/spdlog.h CLI/CLI.hpp nlohmann/json.hpp gtest/gtest.h opencv4/opencv2/core.hpp onnx/onnx_pb.h; do
  f=$(ls /usr/include/$h ${COMPRESS_DEPS_DIR:-/nonexistent}/usr/include/$h 2>/dev/null | head -1)
  printf '%-28s %s\n' "$h" "${f:-MISSING}"
done
"$PY" -c "import nvidia, os; print('nccl.h', next((r for p in nvidia.__path__ for r, _, f in os.walk(p) if 'nccl.h' in f), 'MISSING'))"
ls -d "$("$PY" -c 'import torch, os; print(os.path.dirname(torch.__file__))')"/include/{fmt,gloo,nlohmann,spdlog} 2>/dev/null
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null

echo "== 1. build"
KEEP_GOING=1 bash tools/gpu/build_cuda.sh 2>&1 | tee "$OUT/build.log"
[ "${PIPESTATUS[0]}" = 0 ] || { grep -E "error|Error" "$OUT/build.log" | head -60; exit 1; }
BIN=${BUILD:-build-cuda}/compress

echo "== 2. data"
if [ ! -f data/fashion_det_small/annotations/instances_train.json ]; then
  "$BIN" data fashion-det --out data/fashion_det_small --train 1024 --val 128 --mnist-dir "$MNIST" --threads "$(nproc)" || exit 1
fi
CFG=configs/fashion/ssdlite_mobilenet_v3_small.yml
DATA=(-o TrainReader.dataset.dataset_dir=data/fashion_det_small -o EvalReader.dataset.dataset_dir=data/fashion_det_small
      -o TrainReader.worker_num=8 -o TrainReader.batch_size=64 -o snapshot_iter=100000 -o log_iter=50)

echo "== 3. $STEPS SSDLite steps on the GPU"
"$BIN" train -c "$CFG" "${DATA[@]}" -o use_gpu=true -o max_iters="$STEPS" --run-dir "$OUT/gpu" --eval || exit 1

echo "== 4. one-process NCCL group, 50 steps"
WORLD_SIZE=1 RANK=0 LOCAL_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=29517 \
  "$BIN" train -c "$CFG" "${DATA[@]}" -o use_gpu=true -o distributed.backend=nccl -o max_iters=50 \
  --run-dir "$OUT/nccl" || exit 1

echo "== 5. compress eval of that model on the GPU and on the CPU"
"$BIN" eval -c "$CFG" "${DATA[@]}" -w "$OUT/gpu/model_final.pt" -o use_gpu=true --out "$OUT/eval_gpu.json" || exit 1
"$BIN" eval -c "$CFG" "${DATA[@]}" -w "$OUT/gpu/model_final.pt" --out "$OUT/eval_cpu.json" || exit 1

echo "== 6. sensitivity on the GPU: one conv at two ratios (needs the model's AP above 0)"
"$BIN" sensitivity -c "$CFG" "${DATA[@]}" -o use_gpu=true -o pretrain_weights="$OUT/gpu/model_final.pt" \
  --pruned_params backbone.blocks.9.expand.conv.weight --ratios 0.25,0.75 --output "$OUT/sens/s.json" ||
  echo "sensitivity: failed (see above)"

echo "== 7. figures"
"$PY" - "$OUT" <<'EOF'
import json, sys, statistics
out = sys.argv[1]
for run in ("gpu", "nccl"):
    rows = [json.loads(l) for l in open(f"{out}/{run}/metrics.jsonl") if l.strip()]
    ips = [r["images_per_s"] for r in rows if r.get("kind") == "train"][1:]  # the first window includes start-up
    ap = [r["AP"] for r in rows if r.get("kind") == "eval"]
    if ips:
        m = statistics.median(ips)
        print(f"{run}: median {m:.0f} images/s = {64000 / m:.1f} ms per step of 64 images" + (f", AP {ap[-1]:.4f}" if ap else ""))
g, c = (json.load(open(f"{out}/eval_{d}.json"))["AP"] for d in ("gpu", "cpu"))
print(f"compress eval: AP {g:.4f} on the GPU, {c:.4f} on the CPU (difference {g - c:+.4f})")
EOF
