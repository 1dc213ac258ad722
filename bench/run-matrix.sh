#!/usr/bin/env bash
# The raftkv-vs-etcd matrix of bench/README.md: each configuration runs `raftkv bench --compare`
# (raftkv and etcd back to back, interleaved, --repeat pairs). One JSON summary line per
# configuration goes to <out>/summary.jsonl; the machine's load before each one to <out>/uptime.txt.
#
# Usage: bench/run-matrix.sh [out-dir] [duration] [repeat] [extra bench flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench-out/matrix-$(date -u +%Y%m%dT%H%M%SZ)}
duration=${2:-20s}
repeat=${3:-3}
shift $(( $# < 3 ? $# : 3 ))
node=node_modules/.bin/node
mkdir -p "$out"
for cfg in "20 0" "56 0" "1 0" "20 0.5" "56 0.5"; do
  read -r clients ratio <<<"$cfg"
  echo "$(date -u +%FT%TZ) clients=$clients readRatio=$ratio $(uptime)" | tee -a "$out/uptime.txt"
  "$node" src/cli/main.ts bench --compare --repeat "$repeat" --clients "$clients" --read-ratio "$ratio" \
    --duration "$duration" --out "$out/c$clients-r$ratio" --quiet "$@" | tee -a "$out/summary.jsonl"
done
