//! A plugin's own telemetry: custom counters, gauges and histograms with the plugin's
//! identity, the label-set cap, the plugin's span on its own threads, `Self::stats()`
//! and the busy ratio.

mod common;

use std::sync::{Arc, Mutex};

use plugobs::custom::{CustomValue, MAX_LABEL_SETS, OVERFLOW_LABEL};
use plugobs::exposition::{self, Format};
use plugobs::{Plugin, Registry};

#[plugobs::plugin(kind = "cache")]
#[derive(Default)]
pub struct LruCache;

#[plugobs::instrumented]
impl LruCache {
    fn get(&self, key: u32) -> Option<u32> {
        if key % 2 == 0 {
            plugobs::counter!(Self, "cache_hits").increment(1);
            Some(key)
        } else {
            plugobs::counter!(Self, "cache_misses", "reason" => "absent").increment(1);
            None
        }
    }

    fn fill(&self, batch: &[u32]) {
        plugobs::histogram!(Self, "batch_size").record(batch.len() as f64);
        plugobs::gauge!(Self, "entries").increment(batch.len() as f64);
    }
}

/// Records from a helper function that is not an operation: the plugin is named.
fn evict_all() {
    plugobs::gauge!(LruCache, "entries").set(0.0);
    plugobs::counter!(LruCache, "evictions").increment(3);
}

#[test]
fn custom_metrics_carry_the_plugins_identity_exactly() {
    let registry = Registry::from_descriptors([LruCache::DESCRIPTOR]).unwrap();
    let cache = LruCache;
    for key in 0..10 {
        let _ = cache.get(key);
    }
    cache.fill(&[1, 2, 3]);
    cache.fill(&[1, 2, 3, 4, 5]);
    assert_eq!(plugobs::gauge!(LruCache, "entries").get(), 8.0);
    evict_all();

    let published = common::capture(|| registry.flush());
    let id = [
        ("plugin", "lru_cache"),
        ("kind", "cache"),
        ("instance", "lru_cache"),
    ];
    assert_eq!(
        published.counter("plugobs_custom_cache_hits_total", &id),
        Some(5)
    );
    assert_eq!(
        published.counter(
            "plugobs_custom_cache_misses_total",
            &[id[0], id[1], id[2], ("reason", "absent")]
        ),
        Some(5)
    );
    assert_eq!(
        published.counter("plugobs_custom_evictions_total", &id),
        Some(3)
    );
    assert_eq!(published.gauge("plugobs_custom_entries", &id), Some(0.0));
    assert_eq!(
        published
            .histogram("plugobs_custom_batch_size", &id)
            .map(|v| v.len()),
        Some(2)
    );

    // In stats(), under the plugin.
    let stats = registry.stats();
    let plugin = &stats.plugins[0];
    let custom: Vec<String> = plugin.custom.iter().map(ToString::to_string).collect();
    assert_eq!(
        custom,
        [
            // p50: the bucket midpoint, within 1.6 % of 3
            "batch_size: n=2 sum=8 p50=2.986",
            "cache_hits = 5",
            "cache_misses{reason=absent} = 5",
            "entries = 0",
            "evictions = 3",
        ]
    );
    assert!(matches!(
        plugin.custom[0].value,
        CustomValue::Histogram {
            count: 2,
            sum: 8.0,
            ..
        }
    ));

    // In the exposition, one family per metric, with HELP and TYPE.
    let text = exposition::render(&registry, Format::Prometheus);
    assert!(text.contains(
        "# TYPE plugobs_custom_cache_hits_total counter\n\
         plugobs_custom_cache_hits_total{plugin=\"lru_cache\",kind=\"cache\",instance=\"lru_cache\"} 5\n"
    ));
    assert!(text.contains(
        "plugobs_custom_cache_misses_total{plugin=\"lru_cache\",kind=\"cache\",instance=\"lru_cache\",reason=\"absent\"} 5\n"
    ));
    assert!(text.contains("# TYPE plugobs_custom_batch_size histogram\n"));
    // A value is placed by its bucket's midpoint, within 1.6 %: 5 lands just above le="5".
    assert!(text.contains(
        "plugobs_custom_batch_size_bucket{plugin=\"lru_cache\",kind=\"cache\",instance=\"lru_cache\",le=\"5\"} 1\n"
    ));
    assert!(text.contains(
        "plugobs_custom_batch_size_bucket{plugin=\"lru_cache\",kind=\"cache\",instance=\"lru_cache\",le=\"10\"} 2\n"
    ));
    assert!(text.contains(
        "plugobs_custom_batch_size_bucket{plugin=\"lru_cache\",kind=\"cache\",instance=\"lru_cache\",le=\"2\"} 0\n"
    ));
    assert!(
        text.contains("plugobs_custom_batch_size_sum{plugin=\"lru_cache\",kind=\"cache\",instance=\"lru_cache\"} 8\n")
    );
    assert!(text.contains("# TYPE plugobs_custom_entries gauge\n"));
    assert!(text.contains("# TYPE plugobs_plugin_busy_ratio gauge\n"));
}

#[plugobs::plugin(kind = "router")]
#[derive(Default)]
pub struct Router;

impl Router {
    fn route(&self, path: &'static str) {
        plugobs::counter!(Self, "routed", "path" => path).increment(1);
    }
}

#[test]
fn label_sets_beyond_the_cap_are_counted_under_one_value() {
    let registry = Registry::from_descriptors([Router::DESCRIPTOR]).unwrap();
    // Label values are `&'static str`: leak a few distinct ones for the test.
    let paths: Vec<&'static str> = (0..MAX_LABEL_SETS + 4)
        .map(|i| &*Box::leak(format!("/p{i}").into_boxed_str()))
        .collect();
    for (i, path) in paths.iter().enumerate() {
        for _ in 0..=i {
            Router.route(path);
        }
    }
    let published = common::capture(|| registry.flush());
    let id = [
        ("plugin", "router"),
        ("kind", "router"),
        ("instance", "router"),
    ];
    for (i, path) in paths.iter().take(MAX_LABEL_SETS).enumerate() {
        assert_eq!(
            published.counter(
                "plugobs_custom_routed_total",
                &[id[0], id[1], id[2], ("path", path)]
            ),
            Some(i as u64 + 1),
            "{path}"
        );
    }
    // The last four sets: 17 + 18 + 19 + 20 calls under `other`.
    assert_eq!(
        published.counter(
            "plugobs_custom_routed_total",
            &[id[0], id[1], id[2], ("path", OVERFLOW_LABEL)]
        ),
        Some(17 + 18 + 19 + 20)
    );
    assert_eq!(
        published
            .counters
            .keys()
            .filter(|(n, _)| n == "plugobs_custom_routed_total")
            .count(),
        MAX_LABEL_SETS + 1
    );
}

#[plugobs::plugin(kind = "uploader")]
#[derive(Default)]
pub struct Uploader;

impl Uploader {
    fn start_background(&self) -> std::thread::JoinHandle<()> {
        let span = Self::span();
        std::thread::spawn(move || {
            let _entered = span.enter();
            tracing::info!(batch = 3, "uploaded in the background");
        })
    }
}

#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);
impl std::io::Write for Lines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn events_of_a_plugins_own_thread_carry_its_identity() {
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .without_time()
        .finish();
    // Global for the spawned thread; only this test in this binary logs at INFO.
    tracing::subscriber::with_default(subscriber, || {
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        let span = Uploader::span();
        std::thread::spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                let _entered = span.enter();
                tracing::info!(batch = 3, "uploaded in the background");
            })
        })
        .join()
        .unwrap();
    });
    Uploader.start_background().join().unwrap(); // no subscriber on that thread: no output
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    assert_eq!(
        text.trim_end(),
        " INFO plugin.task{plugin.name=\"uploader\" plugin.kind=\"uploader\" plugin.instance=\"uploader\"}: own_telemetry: uploaded in the background batch=3"
    );
}

#[plugobs::plugin(kind = "reader")]
#[derive(Default)]
pub struct SelfReader;

#[plugobs::instrumented]
impl SelfReader {
    fn work(&self) {
        plugobs::counter!(Self, "units").increment(2);
    }
    #[instrumented(skip)]
    fn my_calls(&self) -> (u64, u64) {
        let stats = Self::stats().unwrap();
        let calls = stats.operations.iter().map(|o| o.calls).sum();
        let units = match stats.custom[0].value {
            CustomValue::Counter { value } => value,
            _ => 0,
        };
        (calls, units)
    }
}

#[test]
fn a_plugin_reads_its_own_stats() {
    let me = SelfReader;
    me.work();
    me.work();
    assert_eq!(me.my_calls(), (2, 4));
}

#[plugobs::plugin(kind = "counter")]
#[derive(Default)]
pub struct ThreadedCounter;

#[test]
fn custom_counts_are_exact_under_threads() {
    let registry = Registry::from_descriptors([ThreadedCounter::DESCRIPTOR]).unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            s.spawn(move || {
                let parity = if t % 2 == 0 { "even" } else { "odd" };
                for _ in 0..10_000 {
                    plugobs::counter!(ThreadedCounter, "ticks", "parity" => parity).increment(1);
                    plugobs::gauge!(ThreadedCounter, "level").increment(1.0);
                }
            });
        }
    });
    let published = common::capture(|| registry.flush());
    let id = [
        ("plugin", "threaded_counter"),
        ("kind", "counter"),
        ("instance", "threaded_counter"),
    ];
    for parity in ["even", "odd"] {
        assert_eq!(
            published.counter(
                "plugobs_custom_ticks_total",
                &[id[0], id[1], id[2], ("parity", parity)]
            ),
            Some(20_000)
        );
    }
    assert_eq!(published.gauge("plugobs_custom_level", &id), Some(40_000.0));
}

#[plugobs::plugin(kind = "clash")]
#[derive(Default)]
pub struct FirstClash;

#[plugobs::plugin(kind = "clash")]
#[derive(Default)]
pub struct SecondClash;

#[test]
fn a_name_taken_with_another_type_is_kept_in_stats_but_not_exported() {
    let registry =
        Registry::from_descriptors([FirstClash::DESCRIPTOR, SecondClash::DESCRIPTOR]).unwrap();
    plugobs::counter!(FirstClash, "clashing").increment(2);
    plugobs::gauge!(SecondClash, "clashing").set(5.0);
    let text = exposition::render(&registry, Format::Prometheus);
    assert!(
        text.contains("plugobs_custom_clashing_total{plugin=\"first_clash\",kind=\"clash\",instance=\"first_clash\"} 2\n")
    );
    assert!(!text.contains("plugobs_custom_clashing{"), "{text}");
    let stats = registry.stats();
    let second = stats
        .plugins
        .iter()
        .find(|p| p.name == "second_clash")
        .unwrap();
    assert_eq!(second.custom[0].value, CustomValue::Gauge { value: 5.0 });
}
