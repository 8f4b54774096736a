#!/usr/bin/env bash
# Instructions per operation of the engine's profiling loops, counted by
# callgrind: each loop runs at N and 2N operations and the difference is
# divided by N, so process start-up and the loops' set-up cancel out.
# Usage: scripts/loops.sh [N] [loop ...]   (default 1000000; get_loop insert_loop)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
n=${1:-1000000}
shift || true
loops=("$@")
[ ${#loops[@]} -gt 0 ] || loops=(get_loop insert_loop)
cargo build -q --release -p clockwise --examples
total() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "target/release/examples/$1" "$2" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
printf '%-18s %s\n' loop instructions/op
for l in "${loops[@]}"; do
  a=$(total "$l" "$n"); b=$(total "$l" $((2 * n)))
  awk -v a="$a" -v b="$b" -v n="$n" -v l="$l" 'BEGIN { printf "%-18s %.2f\n", l, (b - a) / n }'
done
