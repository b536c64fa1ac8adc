#!/usr/bin/env bash
# anx vs nginx as reverse proxies (issue 4): installs wrk and nginx if missing, builds anx in
# release (with the glommio ring-flag patch when perf/glommio/prepare.sh has been run), then
# runs perf/proxy.py and appends the tables to perf/results/<date>-proxy.md.
# Usage: perf/proxy.sh [proxy.py options, e.g. --runs 5 --duration 5 --syscalls --soak 600]
# CARGO_TARGET_DIR is honoured (the binary is taken from $CARGO_TARGET_DIR/release/anx).
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v taskset >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
export PATH="$PATH:/usr/sbin"
cargo build --release
target="${CARGO_TARGET_DIR:-target}"
ulimit -n 65536 || true
label="stock glommio"
[ -f .cargo/config.toml ] && grep -q glommio .cargo/config.toml && label="glommio with COOP_TASKRUN ring flags"
mkdir -p perf/results
python3 perf/proxy.py --anx "$target/release/anx" --label "($label)" \
  --out "perf/results/$(date +%F)-proxy.md" "$@"
