#!/usr/bin/env bash
# End to end against a real Prometheus: plugobs' generated rules and dashboard, proven on
# live data. Run by .ci/run; by hand: scripts/e2e-prometheus.sh
#
# 1. `promtool check rules` on the generated rules, `promtool test rules` on their unit
#    tests (plugobs-cli/tests/promtool/rules.test.yml).
# 2. Starts `ops-host` (examples/src/bin/ops-host.rs: a sink failing its start, one
#    unhealthy, one failing half its writes, one fine, and two configured instances of
#    one sink plugin, one refused its configuration) serving plugobs' endpoints on a free
#    loopback port, and Prometheus on another with a generated config (scrape every
#    second, `honor_labels: true` so plugobs' `instance` label is kept, the target's
#    address in `host`) and the rules generated with shortened windows and `for:`
#    durations — the same `--set` a user would use.
# 3. `promtool check metrics` on the live exposition, then scripts/e2e_prometheus.py
#    asserts through Prometheus's HTTP API: every metric of docs/metrics.md has series
#    with its label names (`instance` included, plugobs' value, not the address);
#    histogram_quantile over the operation histogram is finite; every dashboard panel's
#    expression returns data; the load-failure, unhealthy and error-ratio alerts fire for
#    the right (plugin, instance), each within a bounded time, and none for an instance
#    that does not fail.
#
# Bounded in time, free ports, and everything it started is killed on exit, failed or not.
# Skipped with a loud message (exit 0) only when Debian's prometheus package cannot be
# installed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    echo "e2e: installing Debian's prometheus package (prometheus, promtool)"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null; }; then
        echo "######################################################################"
        echo "## e2e SKIPPED: Debian's prometheus package could not be installed ##"
        echo "######################################################################"
        exit 0
    fi
fi
prometheus --version 2>&1 | head -1

work="$(mktemp -d "${TMPDIR:-/tmp}/plugobs-e2e.XXXXXX")"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cargo build -q -p plugobs-cli -p plugobs-examples --bin plugobs-cli --bin ops-host
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
cli="$target_dir/debug/plugobs-cli"
host="$target_dir/debug/ops-host"

echo "e2e: promtool check rules / test rules (default settings)"
mkdir "$work/unit"
"$cli" rules >"$work/unit/plugobs.rules.yml"
cp plugobs-cli/tests/promtool/rules.test.yml "$work/unit/"
promtool check rules "$work/unit/plugobs.rules.yml"
(cd "$work/unit" && promtool test rules rules.test.yml)

# Shortened so alerts fire within seconds; thresholds stay the defaults.
settings=(--set rate_window=20s --set lifecycle_window=1m --set down_for=5s
    --set error_ratio_for=5s --set unhealthy_for=5s --set slow_for=5s
    --set burn_window_scale=0.01)
"$cli" rules "${settings[@]}" >"$work/plugobs.rules.yml"
"$cli" dashboard "${settings[@]}" >"$work/dashboard.json"
promtool check rules "$work/plugobs.rules.yml"

host_port="$(free_port)"
prom_port="$(free_port)"
"$host" "$host_port" >"$work/host.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$host_port/healthz" >/dev/null 2>&1; then break; fi
    sleep 0.1
done
curl -fsS "http://127.0.0.1:$host_port/healthz" >/dev/null || { cat "$work/host.log"; exit 1; }

echo "e2e: promtool check metrics on the live exposition"
curl -fsS "http://127.0.0.1:$host_port/metrics" | promtool check metrics

"$cli" prometheus-config "127.0.0.1:$host_port" "$work/plugobs.rules.yml" 1s >"$work/prometheus.yml"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
    --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$work/prometheus.log" 2>&1 &
pids+=($!)

started=$SECONDS
if ! python3 scripts/e2e_prometheus.py "http://127.0.0.1:$prom_port" "$work/dashboard.json" docs/metrics.md; then
    echo "--- ops-host log"; tail -20 "$work/host.log"
    echo "--- prometheus log"; tail -20 "$work/prometheus.log"
    exit 1
fi
echo "e2e: passed in $((SECONDS - started)) s against Prometheus"
