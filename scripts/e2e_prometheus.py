"""Assertions of scripts/e2e-prometheus.sh, through Prometheus's HTTP API.

usage: e2e_prometheus.py PROMETHEUS_URL DASHBOARD_JSON METRICS_MD HOST_A HOST_B HOST_B_PID

Prometheus scrapes two ops-hosts with the generated config: `honor_labels: true` keeps
plugobs' `instance` label (the configured instance) and each target's address is in
`host`. HOST_B runs with --no-flaky; HOST_B_PID is stopped at the end, to see
PlugobsTargetDown name it.
"""

import json
import math
import os
import re
import signal
import sys
import time
import urllib.parse
import urllib.request

PROM, DASHBOARD, METRICS_MD, HOST_A, HOST_B, HOST_B_PID = sys.argv[1:7]
HOSTS = {HOST_A, HOST_B}
DEADLINE = time.monotonic() + 180  # the whole run
RATE = "20s"  # the rate window the rules were generated with
DEFAULT_OBJECTIVE = 0.999  # the `objective` setting's default (not set by the script)


def api(path, **params):
    url = f"{PROM}/api/v1/{path}?{urllib.parse.urlencode(params, doseq=True)}"
    with urllib.request.urlopen(url, timeout=5) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{url}: {body}")
    return body["data"]


def until(what, check, within):
    """Polls `check()` until it returns a true value; fails after `within` seconds."""
    end = min(time.monotonic() + within, DEADLINE)
    last = None
    while time.monotonic() < end:
        try:
            last = check()
            if last:
                return last
        except Exception as e:  # Prometheus still starting, say
            last = e
        time.sleep(0.5)
    sys.exit(f"FAIL: {what} (within {within} s); last: {last}")


def query(expr):
    return api("query", query=expr)["result"]


started = time.monotonic()
up = until(
    "both plugobs targets are up",
    lambda: (r := query('up{job="plugobs"} == 1')) and len(r) == 2 and r,
    30,
)
for u in up:
    if u["metric"].get("host") != u["metric"]["instance"]:
        sys.exit(f"FAIL: up has host={u['metric'].get('host')!r}, expected the target's address: {u['metric']}")
if {u["metric"]["host"] for u in up} != HOSTS:
    sys.exit(f"FAIL: up names hosts {[u['metric'] for u in up]}, expected {sorted(HOSTS)}")
print(f"  ok  both targets up after {time.monotonic() - started:.1f} s, hosts {', '.join(sorted(HOSTS))}")

# 1. Every metric of the reference has series with exactly its label names (plus `job`,
#    `host` and `instance`: plugobs' own where the reference lists it, no
#    `exported_instance`), and a per-plugin series' `instance` is plugobs', not the address.
rows = [
    line.split("|")
    for line in open(METRICS_MD, encoding="utf-8")
    if line.startswith("| `plugobs_") and line.count("|") == 6
]
assert rows, "no metric rows in " + METRICS_MD
for cells in rows:
    name = cells[1].strip().strip("`")
    kind = cells[2].strip()
    labels = set() if cells[4].strip() in ("—", "") else {l.strip() for l in cells[4].split(",")}
    match = name + "_bucket" if kind == "histogram" else name
    want = labels | {"__name__", "job", "host", "instance"}
    want |= {"le"} if kind == "histogram" else set()

    def all_series():
        return api("series", **{"match[]": match})

    # Errors are counted where calls fail: flaky_sink on HOST_A, tripped_sink (until its
    # breaker opens) on both.
    hosts = HOSTS
    series = until(
        f"series of {match} from {', '.join(sorted(hosts))}",
        lambda: (s := all_series()) and {x["host"] for x in s} == hosts and s,
        60,
    )
    # The discovery of the plugins linked in has no `source` (only a directory discovered
    # at run time has one): both shapes are expected, each at least once.
    if name == "plugobs_discovery_duration_seconds":
        shapes = {frozenset(s) for s in series}
        if shapes != {frozenset(want), frozenset(want - {"source"})}:
            sys.exit(f"FAIL: {match} has label names {sorted(map(sorted, shapes))}, expected {sorted(want)} and the same without source")
        series = [s for s in series if "source" in s]
    wrong = [s for s in series if set(s) != want]
    if wrong:
        sys.exit(f"FAIL: {match} has label names {sorted(wrong[0])}, expected {sorted(want)}")
    if "instance" in labels:
        foreign = [s for s in series if s["instance"] == s["host"]]
        if foreign:
            sys.exit(f"FAIL: {match} has Prometheus's instance (the address): {foreign[0]}")
    instances = sorted({s["instance"] for s in series}) if "instance" in labels else []
    print(
        f"  ok  {name}: {len(series)} series, labels {sorted(labels) or '-'}"
        + (f", instances {', '.join(instances)}" if instances else "")
    )

# 2. histogram_quantile over the operation histogram is a finite number.
q = (
    "histogram_quantile(0.99, sum by (le) "
    f"(rate(plugobs_plugin_operation_duration_seconds_bucket[{RATE}])))"
)
result = until(q, lambda: [r for r in query(q) if math.isfinite(float(r["value"][1]))], 60)
print(f"  ok  p99 of every operation: {float(result[0]['value'][1]):.3g} s")

# 2b. Objectives declared in code reach the rules through the join: steady_sink's write
#     declares 99.5 % and 100 ms (ops-host), so its recorded budget is 0.005 and its latency
#     objective 0.1 s; flaky_sink declares none and gets the settings' defaults.
def recorded(rule, plugin):
    expr = f'{rule}{{plugin="{plugin}",operation="write"}}'
    result = until(
        f"{expr} on both hosts",
        lambda: (r := query(expr)) and {x["metric"]["host"] for x in r} == HOSTS and r,
        60,
    )
    return {round(float(r["value"][1]), 6) for r in result}


for rule, plugin, want in [
    ("plugobs:operation_error_budget:ratio", "steady_sink", {0.005}),
    ("plugobs:operation_latency_objective:seconds", "steady_sink", {0.1}),
    ("plugobs:operation_error_budget:ratio", "flaky_sink", {round(1 - DEFAULT_OBJECTIVE, 6)}),
]:
    got = recorded(rule, plugin)
    if got != want:
        sys.exit(f"FAIL: {rule} of {plugin} is {got}, expected {want}")
    print(f"  ok  {rule} of {plugin}/write: {', '.join(map(str, sorted(got)))} on both hosts")

# 3. Every dashboard panel's expression returns data.
dashboard = json.load(open(DASHBOARD, encoding="utf-8"))
for panel in dashboard["panels"]:
    for target in panel["targets"]:
        expr = target["expr"].replace("$__rate_interval", RATE)
        for var in dashboard["templating"]["list"]:
            expr = expr.replace("$" + var["name"], ".*")
        if "$" in expr:
            sys.exit(f"FAIL: panel '{panel['title']}' has a variable the dashboard does not define: {expr}")
        until(f"panel '{panel['title']}': {expr}", lambda: query(expr), 60)
    print(f"  ok  panel '{panel['title']}' has data")

# 4. The alerts fire for the right (host, plugin, instance), and for no other: both hosts
#    run the same plugins, so the load-failure and unhealthy alerts fire once per host,
#    each naming its host; only HOST_A's flaky_sink fails writes, so the error-ratio
#    alert names HOST_A alone. Of the two configured instances of kafka_sink only `eu`
#    (refused its configuration) alerts.
expected = set()
for host in sorted(HOSTS):
    expected |= {
        ("PlugobsPluginLoadFailed", host, "broken_sink", "broken_sink"),
        ("PlugobsPluginUnhealthy", host, "sick_sink", "sick_sink"),
        ("PlugobsPluginLoadFailed", host, "kafka_sink", "eu"),
        ("PlugobsCircuitBreakerOpen", host, "tripped_sink", "tripped_sink"),
    }
expected.add(("PlugobsOperationErrorRatioHigh", HOST_A, "flaky_sink", "flaky_sink"))
quiet = {(h, "steady_sink", "steady_sink") for h in HOSTS}
quiet |= {(h, "echo_sink", "echo_sink") for h in HOSTS}  # found at run time, fine
quiet |= {(h, "kafka_sink", "us") for h in HOSTS}
quiet.add((HOST_B, "flaky_sink", "flaky_sink"))


def firing():
    alerts = api("alerts")["alerts"]
    return {
        (
            a["labels"]["alertname"],
            a["labels"].get("host", ""),
            a["labels"].get("plugin", ""),
            a["labels"].get("instance", ""),
        )
        for a in alerts
        if a["state"] == "firing"
    }


for host in sorted(HOSTS):
    until(
        f"a load failure with reason config for kafka_sink/eu on {host}",
        lambda: query(
            'plugobs_plugin_load_failures_total{plugin="kafka_sink",instance="eu",'
            f'stage="load",reason="config",host="{host}"}} == 1'
        ),
        60,
    )
    print(f"  ok  kafka_sink/eu on {host}: one load failure with reason config")
until(
    "kafka_sink/us's writes counted under its instance",
    lambda: query(
        'plugobs_plugin_operations_total{plugin="kafka_sink",instance="us",'
        'operation="write",outcome="ok"} > 0'
    ),
    60,
)
print("  ok  kafka_sink/us: its writes are counted under instance us")
# The plugin found at run time (ops-host's examples/ops-plugins) is scraped as the others,
# and its directory's failed file (notes.plugin: no manifest) is counted by reason.
until(
    "echo_sink's writes (a plugin found at run time) on both hosts",
    lambda: {
        r["metric"]["host"]
        for r in query(
            'plugobs_plugin_operations_total{plugin="echo_sink",instance="echo_sink",'
            'operation="write",outcome="ok"} > 0'
        )
    }
    == HOSTS,
    60,
)
failed = query('plugobs_discovery_failures_total{reason="invalid",source=~".*/ops-plugins"} == 1')
if {r["metric"]["host"] for r in failed} != HOSTS:
    sys.exit(f"FAIL: the failed file of ops-plugins is not counted once per host: {failed}")
print("  ok  echo_sink (found at run time): its writes counted; ops-plugins: 1 invalid file")
for alert, host, plugin, instance in sorted(expected):
    until(
        f"{alert} firing for {plugin}/{instance} on {host}",
        lambda: (alert, host, plugin, instance) in firing(),
        90,
    )
    print(
        f"  ok  {alert} fires for {plugin}/{instance} on {host} "
        f"({time.monotonic() - started:.0f} s after start)"
    )
now = firing()
nameless = {a for a in now if a[1] not in HOSTS}
if nameless:
    sys.exit(f"FAIL: alerts that name no scraped host: {sorted(nameless)}")
unexpected = {a for a in now if (a[1], a[2], a[3]) in quiet}
if unexpected:
    sys.exit(f"FAIL: alerts fire for instances that are fine: {sorted(unexpected)}")
# Other alerts may fire for the failing instances (flaky_sink burns its budget too), but
# none for an instance that does not fail, and none about a whole host.
failing = {(h, p, i) for _, h, p, i in expected}
elsewhere = {a for a in now if (a[1], a[2], a[3]) not in failing}
if elsewhere:
    sys.exit(f"FAIL: alerts for instances or hosts that do not fail: {sorted(elsewhere)}")
print(
    "  ok  every firing alert names its host; nothing fires for "
    + ", ".join(f"{p}/{i} on {h}" for h, p, i in sorted(quiet))
)

# 5. A host that stops: PlugobsTargetDown names it (down_for 5 s), and no other host.
os.kill(int(HOST_B_PID), signal.SIGTERM)
until(
    f"PlugobsTargetDown firing for {HOST_B}",
    lambda: ("PlugobsTargetDown", HOST_B, "", "") in firing(),
    60,
)
down = {a for a in firing() if a[0] in ("PlugobsTargetDown", "PlugobsNoPluginRunning")}
if down != {("PlugobsTargetDown", HOST_B, "", "")}:
    sys.exit(f"FAIL: host alerts after stopping {HOST_B}: {sorted(down)}")
print(f"  ok  PlugobsTargetDown fires for {HOST_B} alone ({time.monotonic() - started:.0f} s after start)")
