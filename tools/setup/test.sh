#!/usr/bin/env bash
# The test command: installs what is missing, builds (Release, Ninja) and runs
# the whole GoogleTest suite through CTest.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
bash tools/setup/setup.sh
# Two test processes at a time, one torch thread each: the machine has two
# cores, and two processes with two OpenMP threads each run several times slower.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
ctest --test-dir build --output-on-failure -j "${JOBS:-2}" --timeout 900
