#!/usr/bin/env bash
# anx vs nginx terminating TLS (issue 5): installs wrk, nginx and curl if missing, builds anx
# in release twice (aws-lc-rs, the default, and `--features ring`; each binary is copied
# aside, since the second build replaces release/anx) and the handshake client
# (examples/tls_handshakes.rs), then runs perf/tls.py and appends its tables to
# perf/results/<date>-tls.md.
# Usage: perf/tls.sh [tls.py options, e.g. --runs 5 --duration 5 --only full,small]
# CARGO_TARGET_DIR is honoured.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v taskset >/dev/null || need+=(util-linux)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
export PATH="$PATH:/usr/sbin"
target="${CARGO_TARGET_DIR:-target}"
cargo build --release --bin anx --example tls_handshakes
cp "$target/release/anx" "$target/release/anx-aws-lc-rs"
cargo build --release --bin anx --features ring
cp "$target/release/anx" "$target/release/anx-ring"
ulimit -n 65536 || true
label="stock glommio"
[ -f .cargo/config.toml ] && grep -q glommio .cargo/config.toml && label="glommio with COOP_TASKRUN ring flags"
mkdir -p perf/results
python3 perf/tls.py --anx "$target/release/anx-aws-lc-rs" --anx-ring "$target/release/anx-ring" \
  --client "$target/release/examples/tls_handshakes" --label "($label)" \
  --out "perf/results/$(date +%F)-tls.md" "$@"
