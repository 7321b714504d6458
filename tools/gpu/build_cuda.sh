#!/usr/bin/env bash
# Builds compress against the CUDA LibTorch inside a PyTorch installation, on a
# GPU machine. The other dependencies come from the system, or from
# tools/gpu/gather_deps.sh's folder (`source DEPS/env.sh` first) where the machine
# has no package manager.
#
#   bash tools/gpu/build_cuda.sh            # -> build-cuda/compress
#   BUILD=dir TESTS=ON PYTHON=python3.11 bash tools/gpu/build_cuda.sh
#
# Then `-o use_gpu=true` trains on the GPU (LOCAL_RANK's under torchrun) and
# `-o distributed.backend=nccl` uses c10d's ProcessGroupNCCL.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
BUILD=${BUILD:-build-cuda}
PY=${PYTHON:-python3}

info=$("$PY" - <<'EOF'
import torch
print(torch.utils.cmake_prefix_path)
print(int(torch.compiled_with_cxx11_abi()))
print(torch.__version__, "CUDA", torch.version.cuda, "devices", torch.cuda.device_count())
EOF
)
TORCH_PREFIX=$(sed -n 1p <<<"$info")
ABI=$(sed -n 2p <<<"$info")
echo "[build_cuda] torch $(sed -n 3p <<<"$info") ($TORCH_PREFIX)"
if [ "$ABI" != 1 ]; then
  # Debian's libraries (yaml-cpp, spdlog, fmt, OpenCV, ONNX, GoogleTest) use the
  # C++11 std::string ABI; a torch built without it cannot link with them.
  echo "[build_cuda] this torch uses the pre-C++11 ABI (_GLIBCXX_USE_CXX11_ABI=0): the Debian-built" \
       "dependencies cannot link with it. Use a torch built with the C++11 ABI (PyTorch >= 2.7 wheels," \
       "NVIDIA's containers, or a source build)." >&2
  exit 2
fi
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
# CMAKE_PREFIX_PATH from the environment (gather_deps' env.sh) uses ":"; CMake's variable wants ";".
PREFIX="$TORCH_PREFIX"
[ -n "${CMAKE_PREFIX_PATH:-}" ] && PREFIX="${CMAKE_PREFIX_PATH//:/;};$TORCH_PREFIX"
mkdir -p "$BUILD"
cmake -S . -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$PREFIX" \
  -DCOMPRESS_BUILD_TESTS="${TESTS:-OFF}" -DPython3_EXECUTABLE="$(command -v "$PY")" | tee "$BUILD/configure.log"
grep -q "compress: CUDA build" "$BUILD/configure.log" ||
  echo "[build_cuda] warning: CMake found no CUDA torch; this is a CPU build" >&2
[ "${CONFIGURE_ONLY:-0}" = 1 ] && exit 0
# KEEP_GOING=1: every compile error in one pass (a GPU machine's time is short).
cmake --build "$BUILD" -j "$(nproc)" --target compress ${KEEP_GOING:+-- -k 0}
echo "[build_cuda] $BUILD/compress"
