#!/usr/bin/env bash
# Gathers compress's non-torch dependencies from this Debian machine into one
# relocatable folder, for building against a CUDA PyTorch on a machine that has
# PyTorch but no package manager and no network.
#
#   here:        bash tools/setup/setup.sh && bash tools/gpu/gather_deps.sh deps && tar czf deps.tgz deps
#   GPU machine: tar xzf deps.tgz && source deps/env.sh && bash tools/gpu/build_cuda.sh
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
OUT=${1:?usage: tools/gpu/gather_deps.sh OUT_DIR}
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
    echo "gather_deps: package $p is not installed (run tools/setup/setup.sh first)" >&2
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

# Static archives stay behind (we link shared), except those a CMake config
# checks for (ONNX's onnxifi_loader, GoogleTest).
find "$OUT" -name '*.a' | while read -r f; do
  grep -rqF "$(basename "$f")" "$OUT/usr/lib/$ARCH/cmake" "$OUT/usr/lib/cmake" "$OUT"/usr/share/cmake* 2>/dev/null || rm "$f"
done
# OpenCV's CMake config only checks that every module's library exists; the
# modules we never link (all but core, imgproc, imgcodecs) stay as empty files.
for f in "$OUT/usr/lib/$ARCH"/libopencv_*.so.*.*; do
  case "$(basename "$f")" in libopencv_core.*|libopencv_imgproc.*|libopencv_imgcodecs.*) ;; *) [ -L "$f" ] || : > "$f" ;; esac
done

# The shared libraries those need (the NEEDED closure), except glibc, the C++
# runtime and torch, which every machine that runs PyTorch has. OpenCV links a
# few for features compress never uses: the GDAL and DICOM readers,
# OpenGL interop, LAPACK solvers. With their own dependencies they are ~200 MB;
# each becomes a stub with the same soname, and the first stub defines every
# symbol the kept libraries import and nothing kept defines, as a function that
# returns 0: OpenCV asks GDAL about every image it reads (GDALAllRegister, then
# GDALIdentifyDriver), and a null driver makes its GDAL decoder decline the
# file. Debian links these libraries with BIND_NOW, so every such symbol must
# exist at load time.
skip='^(linux-vdso|ld-linux|libc\.|libm\.|libdl\.|librt\.|libpthread\.|libstdc\+\+|libgcc_s|libtorch|libc10)'
stub_re='^lib(gdal|gdcm[A-Za-z]*|GLX|lapack|blas)\.so'
needed() { readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
resolve() { for d in /usr/lib/$ARCH /lib/$ARCH /usr/lib /lib; do [ -e "$d/$1" ] && { echo "$d/$1"; return; }; done; }
echo "[gather] resolving shared library dependencies"
queue=()
for so in libopencv_core libopencv_imgproc libopencv_imgcodecs libonnx libonnx_proto libprotobuf libyaml-cpp libspdlog \
          libfmt libz; do
  for f in "$OUT/usr/lib/$ARCH/$so".so*; do [ -f "$f" ] && [ ! -L "$f" ] && mapfile -t -O "${#queue[@]}" queue < <(needed "$f"); done
done
declare -A seen=()
stubs=()
while [ ${#queue[@]} -gt 0 ]; do
  name=${queue[0]}
  queue=("${queue[@]:1}")
  [[ -n "${seen[$name]:-}" || "$name" =~ $skip ]] && continue
  seen[$name]=1
  if [[ "$name" =~ $stub_re ]]; then stubs+=("$name"); continue; fi
  path=$(resolve "$name")
  [ -n "$path" ] || { echo "gather_deps: cannot find $name" >&2; exit 1; }
  [ -e "$OUT/usr/lib/$ARCH/$name" ] || cp -L "$path" "$OUT/usr/lib/$ARCH/$name"
  mapfile -t -O "${#queue[@]}" queue < <(needed "$path")
done

if [ ${#stubs[@]} -gt 0 ]; then
  echo "[gather] stubs for ${stubs[*]}"
  kept=()
  for f in "$OUT/usr/lib/$ARCH"/*.so*; do [ -f "$f" ] && [ -s "$f" ] && [ ! -L "$f" ] && kept+=("$f"); done
  base=()  # what the target machine itself provides
  for n in libc.so.6 libm.so.6 libstdc++.so.6 libgcc_s.so.1 ld-linux-x86-64.so.2 libdl.so.2 libpthread.so.0 librt.so.1; do
    p=$(resolve "$n"); [ -n "$p" ] && base+=("$p")
  done
  # Strong undefined symbols (nm: U; weak ones, w, may stay unresolved).
  nm -D --undefined-only "${kept[@]}" 2>/dev/null | awk '$1 == "U" {sub(/@.*/, "", $2); print $2}' | sort -u > "$OUT/.undef"
  nm -D --defined-only "${kept[@]}" "${base[@]}" 2>/dev/null | awk 'NF >= 3 {sub(/@.*/, "", $3); print $3}' | sort -u > "$OUT/.def"
  comm -23 "$OUT/.undef" "$OUT/.def" > "$OUT/.missing"
  src="$OUT/.stub.c"
  {
    i=0
    while read -r sym; do
      echo "long stub_$i(void) __asm__(\"$sym\");"
      echo "long stub_$i(void) { return 0; }"
      i=$((i + 1))
    done < "$OUT/.missing"
  } > "$src"
  echo "/* empty: the symbols live in ${stubs[0]} */" > "$OUT/.empty.c"
  for k in "${!stubs[@]}"; do
    if [ "$k" = 0 ]; then s="$src"; else s="$OUT/.empty.c"; fi
    gcc -shared -fPIC -O1 -Wl,-soname,"${stubs[$k]}" -o "$OUT/usr/lib/$ARCH/${stubs[$k]}" "$s"
  done
  echo "[gather] $(wc -l < "$OUT/.missing") symbols stubbed" | tee -a "$OUT/MANIFEST.txt"
  rm -f "$OUT/.undef" "$OUT/.def" "$OUT/.missing" "$src" "$OUT/.empty.c"
fi

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
