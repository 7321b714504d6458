#!/usr/bin/env bash
# Installs everything `compress` needs on Debian 12 and builds it into build/.
# Idempotent: packages already present are skipped, the build is incremental.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

PKGS=(build-essential cmake ninja-build pkg-config git clang-format
      libtorch-dev libopenblas0-pthread
      libcli11-dev libspdlog-dev libyaml-cpp-dev nlohmann-json3-dev
      libgtest-dev libopencv-dev dataset-fashion-mnist
      libonnx-dev libprotobuf-dev libgloo-dev libdnnl-dev
      ocl-icd-opencl-dev  # dnnl-config.cmake find_package(OpenCL REQUIRED)s: libdnnl-dev only recommends it
      python3)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Prefer the threaded OpenBLAS over the reference BLAS (about 3x faster for conv/GEMM).
if command -v update-alternatives >/dev/null; then
  for alt in libblas.so.3-x86_64-linux-gnu liblapack.so.3-x86_64-linux-gnu; do
    cand=$(update-alternatives --list "$alt" 2>/dev/null | grep openblas-pthread | head -n1 || true)
    [ -n "$cand" ] && update-alternatives --set "$alt" "$cand" >/dev/null 2>&1 || true
  done
fi

# Node.js for ONNX Runtime (npm's onnxruntime-node verifies and times exports).
# A machine may already have a newer Node.js than Debian's; keep it if so.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "[setup] installing: nodejs npm"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
fi
if [ ! -d tools/ort/node_modules/onnxruntime-node ]; then
  echo "[setup] installing onnxruntime-node (CPU only) into tools/ort"
  (cd tools/ort && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error)
fi

BUILD_TYPE=${BUILD_TYPE:-Release}
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" >/dev/null
cmake --build build -j "${JOBS:-2}"
echo "[setup] built build/compress"
