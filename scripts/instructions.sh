#!/usr/bin/env bash
# Instructions per operation of the stats recording paths, counted by
# callgrind: each variant runs at N and 2N operations and the difference is
# divided by N, so process start-up and set-up cancel out.
# Usage: scripts/instructions.sh [N]   (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
n=${1:-1000000}
cargo build -q --release -p clockwise-stats --example instructions
bin=target/release/examples/instructions
total() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
printf '%-18s %s\n' variant instructions/op
for v in counter padded_fetch_add record time_1_in_64; do
  a=$(total "$v" "$n"); b=$(total "$v" $((2 * n)))
  awk -v a="$a" -v b="$b" -v n="$n" -v v="$v" 'BEGIN { printf "%-18s %.2f\n", v, (b - a) / n }'
done
