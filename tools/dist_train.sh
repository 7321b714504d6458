#!/usr/bin/env bash
# Multi-process launcher with torchrun's conventions: starts NPROC copies of a
# command on this node with RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and
# MASTER_PORT set; if any exits non-zero the others are stopped and its exit
# code is returned. Several nodes: run it on each with --nnodes / --node_rank.
#   tools/dist_train.sh [--nnodes N] [--node_rank R] [--master_addr A] [--master_port P] NPROC CMD [ARGS...]
#   tools/dist_train.sh 2 build/compress train -c configs/fashion/ssdlite_mobilenet_v3_small.yml
set -uo pipefail
NNODES=1 NODE_RANK=0 MASTER_ADDR=${MASTER_ADDR:-127.0.0.1} MASTER_PORT=${MASTER_PORT:-29500}
usage() { sed -n '2,7p' "$0" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --nnodes) NNODES=$2; shift 2 ;;
    --node_rank) NODE_RANK=$2; shift 2 ;;
    --master_addr) MASTER_ADDR=$2; shift 2 ;;
    --master_port) MASTER_PORT=$2; shift 2 ;;
    -h|--help) usage ;;
    --*) echo "dist_train.sh: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[ $# -ge 2 ] || usage
NPROC=$1; shift
for v in "$NPROC" "$NNODES" "$NODE_RANK" "$MASTER_PORT"; do
  [[ "$v" =~ ^[0-9]+$ ]] || { echo "dist_train.sh: '$v' is not a non-negative integer" >&2; exit 2; }
done
[ "$NPROC" -ge 1 ] && [ "$NNODES" -ge 1 ] || { echo "dist_train.sh: NPROC and --nnodes must be >= 1" >&2; exit 2; }
[ "$NODE_RANK" -lt "$NNODES" ] || { echo "dist_train.sh: --node_rank $NODE_RANK is not below --nnodes $NNODES" >&2; exit 2; }
WORLD=$((NNODES * NPROC))
# Job control: each process gets its own process group, so stopping one stops
# whatever it started too.
set -m
pids=()
declare -A rank_of
GRACE=${DIST_GRACE_S:-10}  # seconds the others get to notice a failure and exit with their own error
stop_all() { for p in "${pids[@]}"; do kill -- "-$p" 2>/dev/null; done; }
for ((i = 0; i < NPROC; i++)); do
  RANK=$((NODE_RANK * NPROC + i)) LOCAL_RANK=$i WORLD_SIZE=$WORLD MASTER_ADDR=$MASTER_ADDR MASTER_PORT=$MASTER_PORT \
    "$@" &
  pids+=($!)
  rank_of[$!]=$((NODE_RANK * NPROC + i))
done
trap 'stop_all; exit 130' INT TERM
status=0
running=("${pids[@]}")
while [ ${#running[@]} -gt 0 ]; do
  wait -n -p done_pid "${running[@]}"
  rc=$?
  [ -z "${done_pid:-}" ] && break
  running=("${running[@]/$done_pid}")
  running=(${running[@]})
  if [ $rc -ne 0 ] && [ $status -eq 0 ]; then
    status=$rc
    echo "dist_train.sh: rank ${rank_of[$done_pid]} (pid $done_pid) exited with code $rc; the others get ${GRACE} s to stop" >&2
    ( sleep "$GRACE"; stop_all ) &
    watchdog=$!
  fi
  unset done_pid
done
[ -n "${watchdog:-}" ] && kill -- "-$watchdog" 2>/dev/null
exit $status
