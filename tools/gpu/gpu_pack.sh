#!/usr/bin/env bash
# Packs what tools/gpu/gpu_proof.sh needs on a bare GPU machine (PyTorch and a
# compiler, no package manager, no network) into .gpu/, which git ignores and
# the device tool carries (its limit is 64 MiB with the working tree):
#   .gpu/deps.tgz   tools/gpu/gather_deps.sh's folder (~45 MB unpacked, ~15 MB packed)
#   .gpu/mnist/     Fashion-MNIST cut to its first TRAIN training images (and all
#                   10,000 test images), the same idx.gz format
#
#   bash tools/gpu/gpu_pack.sh [TRAIN=12000]
# then, on the GPU machine:  bash tools/gpu/gpu_proof.sh 300
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
TRAIN=${1:-12000}
MNIST=${MNIST_DIR:-/usr/share/datasets/fashion-mnist}
rm -rf .gpu && mkdir -p .gpu/mnist
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bash tools/gpu/gather_deps.sh "$tmp/deps"
tar czf .gpu/deps.tgz -C "$tmp" deps
# idx: a big-endian header (magic, count, then the item shape), then the items.
python3 - "$MNIST" .gpu/mnist "$TRAIN" <<'PY'
import gzip, struct, sys, shutil
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for name, item in (("train-images-idx3-ubyte.gz", 28 * 28), ("train-labels-idx1-ubyte.gz", 1)):
    with gzip.open(f"{src}/{name}") as f:
        magic, count = struct.unpack(">II", f.read(8))
        dims = f.read(8 if item > 1 else 0)
        body = f.read(min(n, count) * item)
    with gzip.open(f"{dst}/{name}", "wb") as g:
        g.write(struct.pack(">II", magic, min(n, count)) + dims + body)
for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
    shutil.copy(f"{src}/{name}", f"{dst}/{name}")
PY
du -sh .gpu .gpu/*
