#!/usr/bin/env bash
# The test command: installs what is missing, builds (Release, Ninja) and runs
# the whole GoogleTest suite through CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
# Two test processes at a time: the machine has two cores and each test loads torch.
ctest --test-dir build --output-on-failure -j "${JOBS:-2}" --timeout 900
