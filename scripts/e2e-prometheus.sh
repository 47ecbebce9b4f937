#!/usr/bin/env bash
# End to end against a real Prometheus: plugobs' generated rules and dashboard, proven on
# live data. Run by .ci/run; by hand: scripts/e2e-prometheus.sh
#
# 1. `promtool check rules` on the generated rules, `promtool test rules` on their unit
#    tests (plugobs-cli/tests/promtool/rules.test.yml); `amtool check-config` on the
#    generated Alertmanager inhibitions inside a minimal Alertmanager configuration.
# 2. Starts `ops-host` twice (examples/src/bin/ops-host.rs: a sink failing its start, one
#    unhealthy, one failing half its writes, one fine, and two configured instances of
#    one sink plugin, one refused its configuration; the second host runs with
#    --no-flaky, so its flaky_sink never fails), each serving plugobs' endpoints on a free
#    loopback port, and Prometheus on another with a generated config scraping both
#    (every second, `honor_labels: true` so plugobs' `instance` label is kept, each
#    target's address in `host`) and the rules generated with shortened windows and
#    `for:` durations and a selector on the job — the same `--set` a user would use.
# 3. `promtool check metrics` on the live exposition, then scripts/e2e_prometheus.py
#    asserts through Prometheus's HTTP API: every metric of docs/metrics.md has series
#    with its label names on both hosts (`instance` included, plugobs' value, not the
#    address); histogram_quantile over the operation histogram is finite; every dashboard
#    panel's expression returns data; the load-failure, unhealthy and error-ratio alerts
#    fire for the right (host, plugin, instance), each within a bounded time, the
#    error-ratio one for the first host only, and none for an instance that does not
#    fail; then the second host is stopped and PlugobsTargetDown names it.
# 4. Exemplars: `exemplar-host` (examples/src/bin/exemplar-host.rs: writes inside sampled
#    OpenTelemetry spans, exemplars enabled) and a second Prometheus, started with
#    --enable-feature=exemplar-storage, scraping it every second (it asks for OpenMetrics);
#    `promtool check metrics` on its text-format exposition, then scripts/e2e_exemplars.py
#    finds the host's exemplars through /api/v1/query_exemplars.
#
# Bounded in time, free ports, and everything it started is killed on exit, failed or not.
# Skipped with a loud message (exit 0) only when Debian's prometheus package cannot be
# installed; amtool (Debian's prometheus-alertmanager) is installed when missing.
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
if ! command -v amtool >/dev/null; then
    echo "e2e: installing Debian's prometheus-alertmanager package (amtool)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-alertmanager >/dev/null
fi
amtool --version 2>&1 | head -1

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

cargo build -q -p plugobs-cli -p plugobs-examples --bin plugobs-cli --bin ops-host --bin exemplar-host
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
cli="$target_dir/debug/plugobs-cli"
host="$target_dir/debug/ops-host"
exemplar_host="$target_dir/debug/exemplar-host"

echo "e2e: promtool check rules / test rules (default settings)"
mkdir "$work/unit"
"$cli" rules >"$work/unit/plugobs.rules.yml"
cp plugobs-cli/tests/promtool/rules.test.yml "$work/unit/"
promtool check rules "$work/unit/plugobs.rules.yml"
(cd "$work/unit" && promtool test rules rules.test.yml)

echo "e2e: amtool check-config on the inhibitions in a minimal Alertmanager config"
{
    printf 'route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n'
    "$cli" inhibit-rules
} >"$work/alertmanager.yml"
amtool check-config "$work/alertmanager.yml"
grep -q ' - 3 inhibit rules' <(amtool check-config "$work/alertmanager.yml") ||
    { echo "e2e: amtool did not find the 3 inhibit rules"; exit 1; }

# Shortened so alerts fire within seconds; thresholds stay the defaults.
settings=(--set rate_window=20s --set lifecycle_window=1m --set down_for=5s
    --set error_ratio_for=5s --set unhealthy_for=5s --set slow_for=5s --set breaker_open_for=5s
    --set burn_window_scale=0.01 --set 'selector=job="plugobs"')
"$cli" rules "${settings[@]}" >"$work/plugobs.rules.yml"
"$cli" dashboard "${settings[@]}" >"$work/dashboard.json"
promtool check rules "$work/plugobs.rules.yml"

# Two hosts of the one binary; the second one's flaky_sink never fails.
host_a="$(free_port)"
host_b="$(free_port)"
prom_port="$(free_port)"
"$host" "$host_a" >"$work/host-a.log" 2>&1 &
pids+=($!)
"$host" "$host_b" --no-flaky >"$work/host-b.log" 2>&1 &
host_b_pid=$!
pids+=($!)
for port in "$host_a" "$host_b"; do
    for _ in $(seq 1 100); do
        if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then break; fi
        sleep 0.1
    done
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$work"/host-*.log; exit 1; }
done

echo "e2e: promtool check metrics on the live exposition"
curl -fsS "http://127.0.0.1:$host_a/metrics" | promtool check metrics

"$cli" prometheus-config --rules "$work/plugobs.rules.yml" --scrape-interval 1s \
    "127.0.0.1:$host_a" "127.0.0.1:$host_b" >"$work/prometheus.yml"
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
    --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$work/prometheus.log" 2>&1 &
pids+=($!)

started=$SECONDS
if ! python3 scripts/e2e_prometheus.py "http://127.0.0.1:$prom_port" "$work/dashboard.json" docs/metrics.md \
    "127.0.0.1:$host_a" "127.0.0.1:$host_b" "$host_b_pid"; then
    echo "--- ops-host logs"; tail -n 20 "$work"/host-*.log
    echo "--- prometheus log"; tail -n 20 "$work/prometheus.log"
    exit 1
fi
echo "e2e: rules and dashboard passed in $((SECONDS - started)) s against Prometheus"

echo "e2e: exemplars, through a Prometheus with --enable-feature=exemplar-storage"
exemplar_port="$(free_port)"
exemplar_prom_port="$(free_port)"
"$exemplar_host" "$exemplar_port" >"$work/exemplar-host.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$exemplar_port/healthz" >/dev/null 2>&1; then break; fi
    sleep 0.1
done
curl -fsS "http://127.0.0.1:$exemplar_port/healthz" >/dev/null || { cat "$work/exemplar-host.log"; exit 1; }
curl -fsS "http://127.0.0.1:$exemplar_port/metrics" | promtool check metrics
cat >"$work/prometheus-exemplars.yml" <<YAML
global:
  scrape_interval: "1s"
scrape_configs:
  - job_name: "plugobs-exemplars"
    honor_labels: true
    static_configs:
      - targets: ["127.0.0.1:$exemplar_port"]
YAML
prometheus --config.file="$work/prometheus-exemplars.yml" --storage.tsdb.path="$work/data-exemplars" \
    --enable-feature=exemplar-storage \
    --web.listen-address="127.0.0.1:$exemplar_prom_port" --log.level=warn >"$work/prometheus-exemplars.log" 2>&1 &
pids+=($!)
if ! python3 scripts/e2e_exemplars.py "http://127.0.0.1:$exemplar_prom_port" "127.0.0.1:$exemplar_port"; then
    echo "--- exemplar-host log"; tail -n 20 "$work/exemplar-host.log"
    echo "--- prometheus log"; tail -n 20 "$work/prometheus-exemplars.log"
    exit 1
fi
echo "e2e: passed in $((SECONDS - started)) s against Prometheus"
