# What the scripts under tools/ share. A script sources it after `set -euo pipefail`:
#
#   source "$(dirname "$0")/../lib.sh"     (from tools/bench/, tools/experiments/, ...)
#
# and is then at the repository root, with:
#   TOOL                  the script's name, for messages
#   die MSG...            prints "TOOL: MSG" on stderr and exits 1
#   usage MSG...          prints "usage: MSG" on stderr and exits 2
#   need_file PATH WHAT   dies naming PATH and WHAT when PATH is not a file
#   need_build            dies, saying how to build, when build/compress is missing
#   run NAME ARGS...      runs `build/compress ARGS` with its output in $OUT/NAME.log
#                         (OUT must be set); dies naming the log when it fails

TOOL=$(basename "$0" .sh)
cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() { echo "$TOOL: $*" >&2; exit 1; }
usage() { echo "usage: $*" >&2; exit 2; }
need_file() { [ -f "$1" ] || die "$2 '$1' does not exist"; }
need_build() { [ -x build/compress ] || die "build/compress is missing: run 'bash tools/setup/setup.sh' first"; }

run() {
  local name=$1; shift
  mkdir -p "$OUT"
  echo "== $name"
  build/compress "$@" > "$OUT/$name.log" 2>&1 || die "'$name' failed; see $OUT/$name.log"
}
