#!/usr/bin/env bash
# Side by side, in one run: the C++ training step (`compress bench train`) and
# the same SSDLite-MobileNetV3 step in python3-torch. Prints both tables and
# the C++/Python ratio of median step times per thread count (<= 1.0: C++ no slower).
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
need_build
CFG=${1:-configs/fashion/ssdlite_mobilenet_v3_small.yml}
MODEL=$(build/compress config show -c "$CFG" | awk '/^MobileNetV3:/{f=1} f && /model_name:/{print $2; exit}')
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  echo "[bench] installing python3-torch (benchmark baseline only)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-torch >/dev/null
fi
mkdir -p output/bench
build/compress --log-level warn bench train -c "$CFG" --threads 1,2 --steps 20 --json output/bench/train_cpp.json
PYARGS=(--model "$MODEL" --input 192 --batch 16 --threads 1,2 --steps 20)
# Python as users run it (glibc defaults), then with the allocator settings the
# C++ binary applies to itself (train/util/allocator.h), so both gaps are visible.
/usr/bin/python3 tools/bench/bench_ssdlite_torch.py "${PYARGS[@]}" --json output/bench/train_py.json
MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=1073741824 MALLOC_TOP_PAD_=67108864 \
  /usr/bin/python3 tools/bench/bench_ssdlite_torch.py "${PYARGS[@]}" --json output/bench/train_py_tuned.json
python3 - <<'PY'
import json
load = lambda f: {r['threads']: r['median_step_ms'] for r in json.load(open(f))}
c, p, q = load('output/bench/train_cpp.json'), load('output/bench/train_py.json'), load('output/bench/train_py_tuned.json')
for t in sorted(c):
    print(f"threads {t}: C++ {c[t]:.1f} ms | Python {p[t]:.1f} ms, ratio C++/Python = {c[t] / p[t]:.3f} | "
          f"Python with the same malloc settings {q[t]:.1f} ms, ratio = {c[t] / q[t]:.3f}")
PY
