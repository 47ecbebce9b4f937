//! metrics-exporter-dogstatsd installed as the global recorder, sending to a UDP socket
//! the test reads.
//!
//! What the wire carries in each histogram mode (`plugobs::bridge::set_histogram_mode`):
//!
//! * `Buckets` (the default, tested here): per histogram series, counters
//!   `…_duration_seconds_bucket:<delta>|c|#…,le:<bound>` (cumulative per `le`, `+Inf`
//!   included), `…_duration_seconds_count:<delta>|c|#…` and a gauge
//!   `…_duration_seconds_sum:<seconds>|g|#…`: the sum of the `_bucket` deltas for a bound
//!   is the number of calls at or under it.
//! * `CountAndSum`: only the `_count` counter and the `_sum` gauge.
//! * `Samples`: one DogStatsD distribution per series,
//!   `…_duration_seconds:<v>:<v>:…|d|#…`, one value in seconds per call made since the
//!   previous flush (each a bucket midpoint, within 1.6 %), so the wire grows with the
//!   call rate.
//!
//! How the test knows the exporter has sent a flush, without sleeping: the exporter
//! forwards on its own interval (25 ms here); each forwarding pass reads every counter,
//! then every gauge, and sends them in that order. After each plugobs flush the test
//! sets a marker gauge to the flush's number and reads the wire until the marker with
//! that number has arrived in two passes: the second pass read its counters after the
//! first read the marker, so after everything the plugobs flush wrote. The 60 s limit
//! on that wait only turns a lost datagram into a failure instead of a hang.
//!

use std::net::UdpSocket;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use metrics_exporter_dogstatsd::DogStatsDBuilder;

use super::{Exporter, Observed, SeriesKey, normalize};

const MARKER: &str = "exporter_test_flush";

/// Every line received so far, in order.
type Wire = Arc<(Mutex<Vec<String>>, Condvar)>;

pub struct DogStatsD {
    wire: Wire,
    address: String,
}

impl DogStatsD {
    pub fn listen() -> DogStatsD {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket");
        let address = socket.local_addr().expect("local address").to_string();
        let wire: Wire = Arc::default();
        let sink = Arc::clone(&wire);
        std::thread::Builder::new()
            .name("dogstatsd-wire".to_owned())
            .spawn(move || {
                let mut buf = vec![0u8; 65536];
                loop {
                    let Ok(n) = socket.recv(&mut buf) else {
                        return;
                    };
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    let (lines, arrived) = &*sink;
                    lines
                        .lock()
                        .unwrap()
                        .extend(text.lines().filter(|l| !l.is_empty()).map(str::to_owned));
                    arrived.notify_all();
                }
            })
            .expect("spawn the reader");
        DogStatsD { wire, address }
    }
}

/// One DogStatsD line: `name:value[:value…]|type[|@rate][|#tags][|T…]`.
struct Line {
    name: String,
    values: Vec<String>,
    kind: String,
    tags: Vec<(String, String)>,
}

fn parse(line: &str) -> Line {
    let (name, rest) = line.split_once(':').expect("name:value");
    let mut fields = rest.split('|');
    let values = fields
        .next()
        .expect("value")
        .split(':')
        .map(str::to_owned)
        .collect();
    let kind = fields.next().expect("type").to_owned();
    let mut tags = Vec::new();
    for field in fields {
        if let Some(list) = field.strip_prefix('#') {
            for tag in list.split(',') {
                let (k, v) = tag.split_once(':').unwrap_or((tag, ""));
                tags.push((k.to_owned(), v.to_owned()));
            }
        }
    }
    Line {
        name: name.to_owned(),
        values,
        kind,
        tags,
    }
}

impl Exporter for DogStatsD {
    fn install(&mut self) {
        DogStatsDBuilder::default()
            .with_remote_address(&self.address)
            .expect("remote address")
            .with_telemetry(false)
            .with_flush_interval(Duration::from_millis(25))
            .install()
            .expect("install the DogStatsD recorder");
    }

    fn observe(&mut self, flush: usize) -> Observed {
        metrics::gauge!(MARKER).set(flush as f64);
        let (lines, arrived) = &*self.wire;
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut received = lines.lock().unwrap();
        loop {
            let passes = received
                .iter()
                .map(|l| parse(l))
                .filter(|l| l.name == MARKER && l.values[0].parse::<f64>() == Ok(flush as f64))
                .count();
            if passes >= 2 {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "flush {flush}: the marker did not arrive in two forwarding passes within \
                 60 s ({} lines received)",
                received.len()
            );
            received = arrived.wait_timeout(received, left).unwrap().0;
        }
        let mut observed = Observed::default();
        for raw in received.iter() {
            let line = parse(raw);
            if !line.name.starts_with("plugobs_") {
                continue;
            }
            let key: SeriesKey = (line.name.clone(), normalize(line.tags));
            match line.kind.as_str() {
                "c" => {
                    let delta: u64 = line.values[0]
                        .parse()
                        .unwrap_or_else(|_| panic!("counter value in `{raw}`"));
                    *observed.counters.entry(key).or_default() += delta;
                }
                "g" => {
                    let value: f64 = line.values[0]
                        .parse()
                        .unwrap_or_else(|_| panic!("gauge value in `{raw}`"));
                    observed.gauges.insert(key, value);
                }
                "d" => {
                    let entry = observed.histograms.entry(key).or_default();
                    for value in &line.values {
                        let value: f64 = value
                            .parse()
                            .unwrap_or_else(|_| panic!("distribution value in `{raw}`"));
                        entry.0 += 1;
                        entry.1 += value;
                    }
                }
                other => observed.problems.push(format!("`{raw}` has type {other}")),
            }
        }
        observed
    }
}
