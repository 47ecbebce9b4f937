"""Exemplars end to end, run by scripts/e2e-prometheus.sh.

usage: e2e_exemplars.py PROMETHEUS_URL HOST

A Prometheus started with --enable-feature=exemplar-storage scrapes exemplar-host
(examples/src/bin/exemplar-host.rs) at HOST, whose writes run in sampled OpenTelemetry
spans. Prometheus asks for OpenMetrics and keeps the exemplars of the latency buckets;
this finds them through /api/v1/query_exemplars: trace and span ids of the right shape,
each value inside its bucket, and trace ids the host itself serves as exemplars.
"""

import json
import re
import sys
import time
import urllib.parse
import urllib.request

PROM, HOST = sys.argv[1:3]
METRIC = "plugobs_plugin_operation_duration_seconds_bucket"
HEX = {"trace_id": re.compile(r"^[0-9a-f]{32}$"), "span_id": re.compile(r"^[0-9a-f]{16}$")}
DEADLINE = time.monotonic() + 60


def get(url, accept=None):
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=5) as r:
        return r.headers.get("Content-Type", ""), r.read().decode()


def served_trace_ids():
    """The trace ids the host's OpenMetrics exposition carries now."""
    content_type, text = get(f"http://{HOST}/metrics", "application/openmetrics-text; version=1.0.0")
    if not content_type.startswith("application/openmetrics-text"):
        sys.exit(f"FAIL: the host answered {content_type!r} to an OpenMetrics Accept")
    return set(re.findall(r'# \{trace_id="([0-9a-f]{32})"', text))


def exemplars():
    now = time.time()
    params = urllib.parse.urlencode({"query": METRIC, "start": now - 600, "end": now + 60})
    _, body = get(f"{PROM}/api/v1/query_exemplars?{params}")
    body = json.loads(body)
    if body.get("status") != "success":
        raise RuntimeError(body)
    return body["data"]


seen = set()
last = None
while time.monotonic() < DEADLINE:
    try:
        served = served_trace_ids()
        data = exemplars()
        for series in data:
            le = float(series["seriesLabels"]["le"])
            for e in series["exemplars"]:
                for key, shape in HEX.items():
                    if not shape.match(e["labels"].get(key, "")):
                        sys.exit(f"FAIL: exemplar {key} is not hex of the right length: {e}")
                if not float(e["value"]) <= le:
                    sys.exit(f"FAIL: exemplar value {e['value']} above its bucket le={le}")
                seen.add(e["labels"]["trace_id"])
        both = seen & served
        if both:
            print(
                f"  ok  {len(seen)} exemplar trace ids through /api/v1/query_exemplars "
                f"across {len(data)} bucket series; {len(both)} of them served by the host now, "
                f"e.g. {sorted(both)[0]}"
            )
            sys.exit(0)
        last = f"{len(seen)} seen in Prometheus, {len(served)} served"
    except (OSError, RuntimeError, KeyError, ValueError) as e:
        last = e
    time.sleep(0.5)
sys.exit(f"FAIL: no exemplar of the host found through /api/v1/query_exemplars within 60 s; last: {last}")
