"""Assertions of scripts/e2e-prometheus.sh, through Prometheus's HTTP API.

usage: e2e_prometheus.py PROMETHEUS_URL DASHBOARD_JSON METRICS_MD
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
until("the plugobs target is up", lambda: query('up{job="plugobs"} == 1'), 30)
print(f"  ok  target up after {time.monotonic() - started:.1f} s")

# 1. Every metric of the reference has series with exactly its label names.
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
    want = labels | {"__name__", "job", "instance"} | ({"le"} if kind == "histogram" else set())

    def label_sets():
        series = api("series", **{"match[]": match})
        return [set(s) for s in series]

    sets = until(f"series of {match}", label_sets, 60)
    wrong = [s for s in sets if s != want]
    if wrong:
        sys.exit(f"FAIL: {match} has label names {sorted(wrong[0])}, expected {sorted(want)}")
    print(f"  ok  {name}: {len(sets)} series, labels {sorted(labels) or '-'}")

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
        expr = target["expr"].replace("$plugin", ".*").replace("$__rate_interval", RATE)
        until(f"panel '{panel['title']}': {expr}", lambda: query(expr), 60)
    print(f"  ok  panel '{panel['title']}' has data")

# 4. The alerts fire for the right plugins, and not for the steady one.
expected = {
    ("PlugobsPluginLoadFailed", "broken_sink"),
    ("PlugobsPluginUnhealthy", "sick_sink"),
    ("PlugobsOperationErrorRatioHigh", "flaky_sink"),
}


def firing():
    alerts = api("alerts")["alerts"]
    return {
        (a["labels"]["alertname"], a["labels"].get("plugin", ""))
        for a in alerts
        if a["state"] == "firing"
    }


for alert, plugin in sorted(expected):
    t0 = time.monotonic()
    until(f"{alert} firing for {plugin}", lambda: (alert, plugin) in firing(), 90)
    print(f"  ok  {alert} fires for {plugin} ({time.monotonic() - started:.0f} s after start)")
steady = {a for a in firing() if a[1] == "steady_sink"}
if steady:
    sys.exit(f"FAIL: alerts fire for steady_sink: {steady}")
print("  ok  nothing fires for steady_sink")
