"""Assertions of scripts/e2e-prometheus.sh, through Prometheus's HTTP API.

usage: e2e_prometheus.py PROMETHEUS_URL DASHBOARD_JSON METRICS_MD

Prometheus scrapes with the generated config: `honor_labels: true` keeps plugobs'
`instance` label (the configured instance) and the target's address is in `host`.
"""

import json
import math
import re
import sys
import time
import urllib.parse
import urllib.request

PROM, DASHBOARD, METRICS_MD = sys.argv[1], sys.argv[2], sys.argv[3]
DEADLINE = time.monotonic() + 180  # the whole run
RATE = "20s"  # the rate window the rules were generated with


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
up = until("the plugobs target is up", lambda: query('up{job="plugobs"} == 1'), 30)
HOST = up[0]["metric"].get("host")
if HOST != up[0]["metric"]["instance"]:
    sys.exit(f"FAIL: up has host={HOST!r}, expected the target's address: {up[0]['metric']}")
print(f"  ok  target up after {time.monotonic() - started:.1f} s, host={HOST}")

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

    series = until(f"series of {match}", all_series, 60)
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

# 3. Every dashboard panel's expression returns data.
dashboard = json.load(open(DASHBOARD, encoding="utf-8"))
for panel in dashboard["panels"]:
    for target in panel["targets"]:
        expr = (
            target["expr"]
            .replace("$plugin", ".*")
            .replace("$instance", ".*")
            .replace("$__rate_interval", RATE)
        )
        until(f"panel '{panel['title']}': {expr}", lambda: query(expr), 60)
    print(f"  ok  panel '{panel['title']}' has data")

# 4. The alerts fire for the right (plugin, instance), and for no other instance: of the
#    two configured instances of kafka_sink only `eu` (refused its configuration) alerts.
expected = {
    ("PlugobsPluginLoadFailed", "broken_sink", "broken_sink"),
    ("PlugobsPluginUnhealthy", "sick_sink", "sick_sink"),
    ("PlugobsOperationErrorRatioHigh", "flaky_sink", "flaky_sink"),
    ("PlugobsPluginLoadFailed", "kafka_sink", "eu"),
}
quiet = {("steady_sink", "steady_sink"), ("kafka_sink", "us")}


def firing():
    alerts = api("alerts")["alerts"]
    return {
        (
            a["labels"]["alertname"],
            a["labels"].get("plugin", ""),
            a["labels"].get("instance", ""),
        )
        for a in alerts
        if a["state"] == "firing"
    }


until(
    "a load failure with reason config for kafka_sink/eu",
    lambda: query(
        'plugobs_plugin_load_failures_total{plugin="kafka_sink",instance="eu",'
        'stage="load",reason="config"} == 1'
    ),
    60,
)
print("  ok  kafka_sink/eu: one load failure with reason config")
until(
    "kafka_sink/us's writes counted under its instance",
    lambda: query(
        'plugobs_plugin_operations_total{plugin="kafka_sink",instance="us",'
        'operation="write",outcome="ok"} > 0'
    ),
    60,
)
print("  ok  kafka_sink/us: its writes are counted under instance us")
for alert, plugin, instance in sorted(expected):
    until(
        f"{alert} firing for {plugin}/{instance}",
        lambda: (alert, plugin, instance) in firing(),
        90,
    )
    print(
        f"  ok  {alert} fires for {plugin}/{instance} "
        f"({time.monotonic() - started:.0f} s after start)"
    )
now = firing()
unexpected = {a for a in now if (a[1], a[2]) in quiet}
if unexpected:
    sys.exit(f"FAIL: alerts fire for instances that are fine: {sorted(unexpected)}")
# Other alerts may fire for the failing instances (flaky_sink burns its budget too), but
# none for an instance that does not fail.
failing = {(p, i) for _, p, i in expected}
elsewhere = {a for a in now if a[1] and (a[1], a[2]) not in failing}
if elsewhere:
    sys.exit(f"FAIL: alerts for instances that do not fail: {sorted(elsewhere)}")
print(f"  ok  nothing fires for {', '.join(f'{p}/{i}' for p, i in sorted(quiet))} or any other instance")
