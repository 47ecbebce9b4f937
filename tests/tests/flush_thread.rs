//! The background flush thread exists only when there is somewhere to publish: none in a
//! binary with no recorder; one once a recorder is installed and the registry is used;
//! none again once the host turns it off. A recorder installed late still receives the
//! totals since the first call. One test: the global recorder and the thread are
//! process-wide.

use std::time::{Duration, Instant};

use metrics_util::debugging::{DebugValue, DebuggingRecorder};

#[plugobs::plugin(kind = "sink")]
#[derive(Default)]
pub struct FileSink;

#[plugobs::instrumented]
impl FileSink {
    fn write(&self, line: &str) -> Result<usize, std::io::Error> {
        Ok(line.len())
    }
}

/// The number of threads of this process named `plugobs-flush`, from `/proc`.
fn flush_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == "plugobs-flush")
        .count()
}

/// Waits for the thread count to reach `n`: a thread names itself once it runs, and one
/// told to stop exits at once, but leaves `/proc` only once the kernel reaped it. The
/// deadline only turns a hang into a failure.
fn wait_for_threads(n: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    while flush_threads() != n && Instant::now() < deadline {
        std::thread::yield_now();
    }
    flush_threads()
}

fn written(
    snapshot: Vec<(
        metrics_util::CompositeKey,
        Option<metrics::Unit>,
        Option<metrics::SharedString>,
        DebugValue,
    )>,
) -> Option<u64> {
    snapshot.into_iter().find_map(|(key, _, _, value)| {
        let key = key.key();
        let outcome = key
            .labels()
            .any(|l| l.key() == "outcome" && l.value() == "ok");
        let write = key
            .labels()
            .any(|l| l.key() == "operation" && l.value() == "write");
        match value {
            DebugValue::Counter(n)
                if key.name() == "plugobs_plugin_operations_total" && outcome && write =>
            {
                Some(n)
            }
            _ => None,
        }
    })
}

#[cfg(target_os = "linux")]
#[test]
fn the_flush_thread_starts_only_with_somewhere_to_publish() {
    // No recorder: using the registry and calling operations starts no thread.
    assert!(plugobs::registry().check().is_ok());
    for _ in 0..5 {
        FileSink.write("a").unwrap();
    }
    plugobs::flush();
    assert_eq!(flush_threads(), 0);
    assert!(!plugobs::bridge::background_flush_running());

    // A recorder installed late: the next use of the registry starts the thread, and the
    // first flush into the recorder carries every call since the first one.
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();
    assert_eq!(flush_threads(), 0);
    let _ = plugobs::registry();
    assert!(plugobs::bridge::background_flush_running());
    assert_eq!(wait_for_threads(1), 1);
    plugobs::flush();
    assert_eq!(written(snapshotter.snapshot().into_vec()), Some(5));

    // Turned off: the thread exits, and does not come back by itself.
    plugobs::bridge::stop_background_flush();
    assert_eq!(wait_for_threads(0), 0);
    let _ = plugobs::registry();
    FileSink.write("b").unwrap();
    assert!(!plugobs::bridge::background_flush_running());
    assert_eq!(flush_threads(), 0);
    // Flushing by hand still publishes, and a second flush does not send the totals
    // again: the debugging recorder's snapshot drains its counters, so what it holds now
    // is what arrived since the last one, the one new call.
    plugobs::flush();
    plugobs::flush();
    assert_eq!(written(snapshotter.snapshot().into_vec()), Some(1));

    // Started by the host: one thread, however often it asks.
    plugobs::bridge::start_background_flush().unwrap();
    plugobs::bridge::start_background_flush().unwrap();
    assert_eq!(wait_for_threads(1), 1);
    plugobs::bridge::stop_background_flush();
    assert_eq!(wait_for_threads(0), 0);
}
