//! A plugin's own telemetry per instance (issue 22): inside a call on an instance loaded by
//! name, its custom metrics, CPU time and allocated bytes are that instance's; work off the
//! call path (a thread, a tokio task) counts for the instance a `Scope` names; plugobs' own
//! first-call bookkeeping counts for nobody.
//!
//! This binary's global allocator is `plugobs::alloc::Attributed`. Operation cells and
//! instance tables are process-wide, per plugin: each test uses plugins of its own.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::Duration;

use plugobs::exposition::{self, Format};
use plugobs::{AttributeExt as _, Plugin, PluginExt as _, PluginStats, Registry, Scope};

#[global_allocator]
static ALLOC: plugobs::alloc::Attributed<std::alloc::System> =
    plugobs::alloc::Attributed::new(std::alloc::System);

pub trait Sink: Send + Sync {
    fn write(&self, line: &str) -> usize;
    fn flush(&self) -> u64;
}

/// How many bytes each `write` allocates (and frees) on one instance: 1 000 + its
/// `extra` setting, so that the two instances' counts cannot be confused.
#[derive(Debug, serde::Deserialize)]
pub struct MultiConfig {
    extra: usize,
}

#[plugobs::plugin(kind = "sink", provides = dyn Sink, new = Self::from_config)]
pub struct MultiSink {
    extra: usize,
}

impl MultiSink {
    fn from_config(config: MultiConfig) -> Self {
        MultiSink {
            extra: config.extra,
        }
    }
}

/// Spins until this thread has used `nanos` more CPU time.
fn spin_cpu(nanos: u64) {
    let start = plugobs::cpu::thread_cpu_nanos().unwrap();
    while plugobs::cpu::thread_cpu_nanos().unwrap() - start < nanos {
        black_box(0);
    }
}

#[plugobs::instrumented]
impl Sink for MultiSink {
    fn write(&self, line: &str) -> usize {
        let buffer = black_box(Vec::<u8>::with_capacity(1000 + self.extra));
        plugobs::counter!(Self, "lines_written").increment(1);
        plugobs::counter!(Self, "bytes_written", "codec" => "plain").increment(line.len() as u64);
        plugobs::histogram!(Self, "line_length").record(line.len() as f64);
        plugobs::gauge!(Self, "buffer_capacity").set(buffer.capacity() as f64);
        buffer.capacity()
    }

    #[instrumented(cpu)]
    fn flush(&self) -> u64 {
        spin_cpu(2_000_000);
        plugobs::gauge!(Self, "pending").increment(1.0);
        1
    }
}

fn row<'a>(rows: &'a [PluginStats], instance: &str) -> &'a PluginStats {
    rows.iter()
        .find(|p| p.instance == instance)
        .unwrap_or_else(|| panic!("no row for {instance}"))
}

fn custom(row: &PluginStats) -> Vec<String> {
    row.custom.iter().map(|c| c.to_string()).collect()
}

#[test]
fn two_instances_keep_their_own_metrics_cpu_and_bytes_under_four_threads() {
    let registry = Registry::from_descriptors([MultiSink::DESCRIPTOR]).unwrap();
    let x = registry
        .load_instance::<dyn Sink>("multi_sink", "sink-x", serde_json::json!({ "extra": 0 }))
        .unwrap();
    let y = registry
        .load_instance::<dyn Sink>("multi_sink", "sink-y", serde_json::json!({ "extra": 24 }))
        .unwrap();
    // What the constructors allocated (the value, its configuration) is their instances';
    // the calls' bytes are counted from here.
    let loaded = registry.stats();
    let at_load = |instance: &str| {
        let r = row(&loaded.plugins, instance);
        (r.allocated_bytes.unwrap(), r.freed_bytes.unwrap())
    };
    let ((ax, fx), (ay, fy)) = (at_load("sink-x"), at_load("sink-y"));
    // Each thread writes 3 lines to sink-x ("abc") and 5 to sink-y ("hello"), 1 000 times
    // over, and flushes each once.
    const ROUNDS: usize = 1_000;
    let barrier = Barrier::new(4);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                barrier.wait();
                for _ in 0..ROUNDS {
                    for _ in 0..3 {
                        assert_eq!(x.write("abc"), 1000);
                    }
                    for _ in 0..5 {
                        assert_eq!(y.write("hello"), 1024);
                    }
                }
                x.flush();
                y.flush();
            });
        }
    });

    let stats = registry.stats();
    // The default instance was never loaded and recorded nothing of its own: no row.
    assert_eq!(
        stats.plugins.iter().map(|p| p.instance).collect::<Vec<_>>(),
        ["sink-x", "sink-y"]
    );
    let (sx, sy) = (row(&stats.plugins, "sink-x"), row(&stats.plugins, "sink-y"));
    let writes_x = 4 * 3 * ROUNDS as u64;
    let writes_y = 4 * 5 * ROUNDS as u64;
    assert_eq!(
        custom(sx),
        [
            "buffer_capacity = 1000".to_owned(),
            format!("bytes_written{{codec=plain}} = {}", writes_x * 3),
            format!("line_length: n={writes_x} sum={} p50=2.986", writes_x * 3),
            format!("lines_written = {writes_x}"),
            "pending = 4".to_owned(),
        ]
    );
    assert_eq!(
        custom(sy),
        [
            "buffer_capacity = 1024".to_owned(),
            format!("bytes_written{{codec=plain}} = {}", writes_y * 5),
            format!("line_length: n={writes_y} sum={} p50=5.033", writes_y * 5),
            format!("lines_written = {writes_y}"),
            "pending = 4".to_owned(),
        ]
    );
    // Bytes: exactly each write's buffer, allocated and freed in the call; plugobs' own
    // memory (sites, cells, series made on a first call) is nobody's.
    assert_eq!(sx.allocated_bytes, Some(ax + writes_x * 1000));
    assert_eq!(sx.freed_bytes, Some(fx + writes_x * 1000));
    assert_eq!(sy.allocated_bytes, Some(ay + writes_y * 1024));
    assert_eq!(sy.freed_bytes, Some(fy + writes_y * 1024));
    // CPU: 4 flushes of 2 ms of spinning each, on each instance, and nothing on `write`.
    for r in [sx, sy] {
        let flush = r.operations.iter().find(|o| o.name == "flush").unwrap();
        let cpu = flush.cpu.unwrap();
        assert!(
            cpu >= Duration::from_millis(8) && cpu < Duration::from_millis(12),
            "{}: {cpu:?}",
            r.instance
        );
        let write = r.operations.iter().find(|o| o.name == "write").unwrap();
        assert_eq!(
            (write.calls, write.cpu),
            (
                if r.instance == "sink-x" {
                    writes_x
                } else {
                    writes_y
                },
                None
            )
        );
    }

    // The exposition: one series per instance, labelled with it; none for the default.
    let text = exposition::render(&registry, Format::Prometheus);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("plugobs_custom_lines_written_total{"))
        .collect();
    assert_eq!(
        lines,
        [
            format!(
                "plugobs_custom_lines_written_total{{plugin=\"multi_sink\",kind=\"sink\",instance=\"sink-x\"}} {writes_x}"
            ),
            format!(
                "plugobs_custom_lines_written_total{{plugin=\"multi_sink\",kind=\"sink\",instance=\"sink-y\"}} {writes_y}"
            ),
        ]
    );
    let allocated: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("plugobs_plugin_allocated_bytes_total{plugin=\"multi_sink\""))
        .collect();
    assert_eq!(
        allocated,
        [
            format!(
                "plugobs_plugin_allocated_bytes_total{{plugin=\"multi_sink\",kind=\"sink\",instance=\"sink-x\"}} {}",
                ax + writes_x * 1000
            ),
            format!(
                "plugobs_plugin_allocated_bytes_total{{plugin=\"multi_sink\",kind=\"sink\",instance=\"sink-y\"}} {}",
                ay + writes_y * 1024
            ),
        ]
    );
    let cpu_series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("plugobs_plugin_cpu_seconds_total{plugin=\"multi_sink\""))
        .map(|l| l.rsplit_once(' ').unwrap().0)
        .collect();
    assert_eq!(
        cpu_series,
        [
            "plugobs_plugin_cpu_seconds_total{plugin=\"multi_sink\",kind=\"sink\",instance=\"sink-x\",operation=\"flush\"}",
            "plugobs_plugin_cpu_seconds_total{plugin=\"multi_sink\",kind=\"sink\",instance=\"sink-y\",operation=\"flush\"}",
        ]
    );
    x.stop().unwrap();
    y.stop().unwrap();
}

/// A plugin whose work goes on off its calls: a thread and a tokio task.
#[plugobs::plugin(kind = "sink", provides = dyn Sink, new = Self::from_config)]
pub struct Uploader {
    extra: usize,
}

impl Uploader {
    fn from_config(config: MultiConfig) -> Self {
        Uploader {
            extra: config.extra,
        }
    }
}

#[plugobs::instrumented]
impl Sink for Uploader {
    fn write(&self, _line: &str) -> usize {
        self.extra
    }

    fn flush(&self) -> u64 {
        0
    }
}

impl Uploader {
    /// Allocates 256 KiB on a thread of its own, as this instance's work, and keeps it
    /// until the thread returns it.
    fn upload_on_thread(&self) -> Vec<u8> {
        let scope = self.scope();
        std::thread::spawn(move || {
            scope.run(|| {
                plugobs::counter!(Uploader, "uploads", "via" => "thread").increment(1);
                black_box(vec![1u8; 256 * 1024])
            })
        })
        .join()
        .unwrap()
    }

    /// Allocates 128 KiB in a future, as this instance's work.
    async fn upload_in_task(&self) -> Vec<u8> {
        async {
            plugobs::counter!(Uploader, "uploads", "via" => "task").increment(1);
            black_box(vec![2u8; 128 * 1024])
        }
        .attributed(self)
        .await
    }
}

#[test]
fn a_thread_and_a_task_attributed_to_an_instance_count_for_it_and_no_other() {
    let registry = Registry::from_descriptors([Uploader::DESCRIPTOR]).unwrap();
    let a = registry
        .load_instance::<dyn Sink>("uploader", "up-a", serde_json::json!({ "extra": 1 }))
        .unwrap();
    let b = registry
        .load_instance::<dyn Sink>("uploader", "up-b", serde_json::json!({ "extra": 2 }))
        .unwrap();
    let ua: &Uploader = a.downcast_ref().unwrap();
    let ub: &Uploader = b.downcast_ref().unwrap();
    assert_eq!(
        (Scope::of(ua).instance(), ub.scope().instance()),
        ("up-a", "up-b")
    );
    // What the constructors allocated (their configuration) is their instances'.
    let bytes = |instance: &str| {
        let stats = registry.stats();
        let r = row(&stats.plugins, instance);
        (r.allocated_bytes.unwrap(), r.freed_bytes.unwrap())
    };
    let (a0, b0) = (bytes("up-a"), bytes("up-b"));
    assert_eq!(a0, b0, "the same constructor, the same configuration size");

    let on_thread = ua.upload_on_thread();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let in_task = runtime.block_on(async {
        // A task of its own, on whichever worker: the scope goes with each poll.
        let scope = ub.scope();
        tokio::spawn(async { black_box(vec![3u8; 128 * 1024]) }.attributed(scope))
            .await
            .unwrap()
    });
    let in_future = runtime.block_on(ub.upload_in_task());
    assert_eq!(
        (on_thread.len(), in_task.len(), in_future.len()),
        (256 * 1024, 128 * 1024, 128 * 1024)
    );

    // Exactly the buffers (moved out of the scopes: nothing freed in them).
    let (a1, b1) = (bytes("up-a"), bytes("up-b"));
    assert_eq!((a1.0 - a0.0, a1.1 - a0.1), (256 * 1024, 0));
    assert_eq!((b1.0 - b0.0, b1.1 - b0.1), (128 * 1024 + 128 * 1024, 0));
    let stats = registry.stats();
    let (sa, sb) = (row(&stats.plugins, "up-a"), row(&stats.plugins, "up-b"));
    assert_eq!(custom(sa), ["uploads{via=thread} = 1"]);
    assert_eq!(custom(sb), ["uploads{via=task} = 1"]);
    // The default instance: nothing, so no row.
    assert_eq!(stats.plugins.len(), 2);
    drop((on_thread, in_task, in_future));
    a.stop().unwrap();
    b.stop().unwrap();
}

/// Two plugins, one of which calls the other; neither allocates in its calls.
#[plugobs::plugin(kind = "codec")]
#[derive(Default)]
pub struct Outer;

#[plugobs::plugin(kind = "codec")]
#[derive(Default)]
pub struct Inner;

#[plugobs::instrumented]
impl Outer {
    fn call_inner(&self) -> u64 {
        plugobs::counter!(Self, "outer_calls").increment(1);
        Inner.work() + Inner.measured()
    }
}

#[plugobs::instrumented]
impl Inner {
    fn work(&self) -> u64 {
        plugobs::counter!(Self, "inner_calls").increment(1);
        plugobs::histogram!(Self, "inner_sizes").record(3.0);
        1
    }

    #[instrumented(cpu)]
    fn measured(&self) -> u64 {
        2
    }
}

#[test]
fn first_calls_of_fresh_sites_add_no_bytes_to_any_plugin() {
    // Every site here — two operations, a `cpu` site, three custom metrics — is called
    // for the first time inside another plugin's call: what plugobs makes for them is
    // its own.
    assert_eq!(Outer.call_inner(), 3);
    for d in [Outer::DESCRIPTOR, Inner::DESCRIPTOR] {
        assert_eq!(plugobs::alloc::bytes_of(d), Some((0, 0)), "{}", d.name);
    }
    let registry = Registry::from_descriptors([Outer::DESCRIPTOR, Inner::DESCRIPTOR]).unwrap();
    let stats = registry.stats();
    assert_eq!(
        stats
            .plugins
            .iter()
            .map(|p| (p.instance, p.allocated_bytes, p.freed_bytes))
            .collect::<Vec<_>>(),
        [("inner", Some(0), Some(0)), ("outer", Some(0), Some(0))]
    );
    assert_eq!(custom(row(&stats.plugins, "outer")), ["outer_calls = 1"]);
    assert_eq!(
        custom(row(&stats.plugins, "inner")),
        ["inner_calls = 1", "inner_sizes: n=1 sum=3 p50=2.986"]
    );
}

/// A plugin whose only work is attributed from outside its calls.
#[plugobs::plugin(kind = "codec")]
#[derive(Default)]
pub struct Cruncher;

#[test]
fn cpu_of_attributed_work_counts_for_the_instance_when_asked() {
    let cruncher = Cruncher;
    let scope = Scope::of(&cruncher);
    assert_eq!((scope.plugin(), scope.instance()), ("cruncher", "cruncher"));
    // Without `with_cpu`: no CPU counted.
    std::thread::spawn(move || scope.run(|| spin_cpu(1_000_000)))
        .join()
        .unwrap();
    let registry = Registry::from_descriptors([Cruncher::DESCRIPTOR]).unwrap();
    assert_eq!(registry.stats().plugins[0].background_cpu, None);
    // With it: the 3 ms spun, and a little of the clock reads.
    std::thread::spawn(move || {
        scope.with_cpu().run(|| {
            assert_eq!(Scope::current().map(|s| s.instance()), Some("cruncher"));
            spin_cpu(3_000_000)
        })
    })
    .join()
    .unwrap();
    assert!(Scope::current().is_none());
    let cpu = registry.stats().plugins[0].background_cpu.unwrap();
    assert!(
        cpu >= Duration::from_millis(3) && cpu < Duration::from_millis(5),
        "{cpu:?}"
    );
    let text = exposition::render(&registry, Format::Prometheus);
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("plugobs_plugin_cpu_seconds_total{"))
        .map(|l| l.rsplit_once(' ').unwrap().0)
        .collect();
    assert_eq!(
        series,
        [
            "plugobs_plugin_cpu_seconds_total{plugin=\"cruncher\",kind=\"codec\",instance=\"cruncher\",operation=\"(background)\"}"
        ]
    );
}

#[test]
fn a_panic_inside_a_scope_leaves_the_thread_as_it_was() {
    let scope = Scope::of(&Cruncher);
    let outer = Scope::of(&Inner);
    let caught = std::thread::spawn(move || {
        outer.run(|| {
            let caught = std::panic::catch_unwind(|| scope.run(|| panic!("in the scope")));
            // Back to the enclosing scope, not the one that unwound.
            (caught.is_err(), Scope::current().map(|s| s.plugin()))
        })
    })
    .join()
    .unwrap();
    assert_eq!(caught, (true, Some("inner")));
}
