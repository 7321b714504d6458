#!/usr/bin/env bash
# Gathers compress's non-torch dependencies from this Debian machine into one
# relocatable folder, for building against a CUDA PyTorch on a machine that has
# PyTorch but no package manager and no network.
#
#   here:        bash tools/setup.sh && bash tools/gather_deps.sh deps && tar czf deps.tgz deps
#   GPU machine: tar xzf deps.tgz && source deps/env.sh && bash tools/build_cuda.sh
#
# What goes in (the files of the Debian packages, paths kept under deps/usr):
#   CLI11, nlohmann-json (header-only); spdlog + fmt, yaml-cpp (headers, CMake
#   configs, shared libraries); GoogleTest (headers and libraries); OpenCV core /
#   imgproc / imgcodecs, ONNX + protobuf, zlib (we link them too); the gloo
#   headers (c10d's ProcessGroupGloo header includes them, the code is in
#   libtorch). Then every shared library those need that a bare machine may lack
#   (the ldd closure, minus glibc and the C++ runtime), into deps/usr/lib.
# CMake configs that name /usr are rewritten relative to their own location, so
# the folder can move. deps/env.sh sets CMAKE_PREFIX_PATH (the folder first,
# then PyTorch's cmake prefix) and LD_LIBRARY_PATH.
set -euo pipefail
OUT=${1:?usage: tools/gather_deps.sh OUT_DIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
ARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)

pkgs=(libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libyaml-cpp-dev libgtest-dev googletest
      libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev libopencv-dev
      libonnx-dev libprotobuf-dev zlib1g-dev libgloo-dev)
# The runtime packages behind the -dev ones (libspdlog1.10, libyaml-cpp0.7, ...).
runtime() {
  dpkg-query -W -f='${Depends}' "$1" 2>/dev/null | tr ',' '\n' | sed 's/^ *//; s/ .*//' |
    grep -E '^lib' | grep -v -E -- '-dev$|^(libc6|libgcc-s1|libstdc\+\+6)$' || true
}
all=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    echo "gather_deps: package $p is not installed (run tools/setup.sh first)" >&2
    exit 1
  fi
  all+=("$p")
  for r in $(runtime "$p"); do all+=("$r"); done
done
# OpenCV's CMake config checks that every module's library exists, so all the
# installed module libraries come along (only the three we link bring their
# dependencies, below).
for p in $(dpkg-query -W -f='${Package}\n' 'libopencv-*[0-9]' 2>/dev/null | grep -v -- '-dev$'); do all+=("$p"); done
mapfile -t all < <(printf '%s\n' "${all[@]}" | sort -u)

echo "[gather] ${#all[@]} packages"
: > "$OUT/MANIFEST.txt"
for p in "${all[@]}"; do
  dpkg-query -W -f='${Package} ${Version}\n' "$p" >> "$OUT/MANIFEST.txt" 2>/dev/null || continue
  # Headers, libraries, CMake and pkg-config files, GoogleTest's sources; no docs.
  { dpkg -L "$p" | grep -E "^/usr/(include|lib|src|share/cmake|share/pkgconfig)/" || true; } | while read -r f; do
    [ -d "$f" ] && continue  # folders come with their files (and /usr/src/gtest is a link to one)
    if [ -f "$f" ] || [ -L "$f" ]; then
      mkdir -p "$OUT$(dirname "$f")"
      cp -a "$f" "$OUT$f"
    fi
  done
done

# Shared libraries the ones we link need (OpenCV's image codecs bring GDAL and
# friends: ~200 MB), except glibc and the C++ runtime (every machine that runs
# PyTorch has them) and torch itself, flattened into usr/lib/ARCH.
skip='^(linux-vdso|ld-linux|libc\.|libm\.|libdl\.|librt\.|libpthread\.|libstdc\+\+|libgcc_s|libtorch|libc10)'
echo "[gather] resolving shared library dependencies"
for so in libopencv_core libopencv_imgproc libopencv_imgcodecs libonnx libonnx_proto libprotobuf libyaml-cpp libspdlog \
          libfmt libz; do
  for f in "$OUT/usr/lib/$ARCH/$so".so*; do [ -f "$f" ] && ldd "$f" 2>/dev/null | awk '/=> \//{print $1" "$3}'; done
done | sort -u | while read -r name path; do
  [[ "$name" =~ $skip ]] && continue
  [ -e "$OUT/usr/lib/$ARCH/$name" ] || cp -L "$path" "$OUT/usr/lib/$ARCH/$name"
done

# Relocatable CMake configs: /usr/... becomes a path relative to the file.
echo "[gather] making CMake configs relocatable"
{ grep -rlE '"?/usr/(include|lib)' "$OUT/usr/lib/$ARCH/cmake" "$OUT/usr/share/cmake"* "$OUT/usr/lib/cmake" 2>/dev/null || true; } |
  while read -r f; do
    rel=$(realpath --relative-to="$(dirname "$f")" "$OUT/usr")
    sed -i -E "s#([\" ;(]|^)/usr/(include|lib)#\1\${CMAKE_CURRENT_LIST_DIR}/$rel/\2#g" "$f"
  done

cat > "$OUT/env.sh" <<EOF
# Source this on the build machine: compress's dependencies from $(hostname) (Debian $(cat /etc/debian_version)).
DEPS_DIR=\$(cd "\$(dirname "\${BASH_SOURCE[0]}")" && pwd)
TORCH_PREFIX=\$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null || true)
export CMAKE_PREFIX_PATH="\$DEPS_DIR/usr:\$DEPS_DIR/usr/lib/$ARCH/cmake\${TORCH_PREFIX:+:\$TORCH_PREFIX}"  # ":" in the environment
export LD_LIBRARY_PATH="\$DEPS_DIR/usr/lib/$ARCH\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export COMPRESS_DEPS_DIR="\$DEPS_DIR"
EOF
echo "[gather] $(du -sh "$OUT" | cut -f1) in $OUT ($(wc -l < "$OUT/MANIFEST.txt") packages, see MANIFEST.txt); source $OUT/env.sh before cmake"
