#!/usr/bin/env bash
# Fails when a tracked C++ file differs from what the committed .clang-format
# (Debian 12's clang-format 14) makes of it; lists the files and the fix.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
command -v clang-format >/dev/null || { echo "check_format: clang-format not installed (tools/setup/setup.sh installs it)"; exit 1; }
bad=()
while IFS= read -r f; do
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done < <(git ls-files '*.cpp' '*.h' 2>/dev/null || find compress train tests -name '*.cpp' -o -name '*.h')
if [ ${#bad[@]} -gt 0 ]; then
  printf 'not clang-formatted: %s\n' "${bad[@]}"
  echo "fix: clang-format -i ${bad[*]}"
  exit 1
fi
echo "check_format: $(git ls-files '*.cpp' '*.h' | wc -l) files formatted"
