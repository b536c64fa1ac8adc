#!/usr/bin/env bash
# anx vs nginx on this machine: installs wrk and nginx if missing, builds anx in release
# (with the glommio ring-flag patch when perf/glommio/prepare.sh has been run), then runs
# perf/bench.py and appends the table to perf/results/<date>.md.
# Usage: perf/bench.sh [bench.py options, e.g. --runs 5 --duration 5]
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v taskset >/dev/null || need+=(util-linux)
command -v cc >/dev/null || need+=(build-essential)
[ -f /usr/include/liburing.h ] || need+=(liburing-dev)  # perf/floor/floor.c
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
export PATH="$PATH:/usr/sbin"
cargo build --release
ulimit -n 65536 || true
label="stock glommio"
[ -f .cargo/config.toml ] && grep -q glommio .cargo/config.toml && label="glommio with COOP_TASKRUN ring flags"
mkdir -p perf/results
python3 perf/bench.py --anx target/release/anx --label "($label)" --out "perf/results/$(date +%F).md" "$@"
