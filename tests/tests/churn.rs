//! Thread churn: a process that keeps creating short-lived threads keeps exact counts and
//! memory bounded by its live threads, because an exiting thread's index (and with it
//! its shards) is adopted by a later thread.

mod common;

use plugobs::{Plugin, Registry};

#[derive(Debug, plugobs::ErrorKind)]
pub enum ChurnError {
    Fifth,
}

#[plugobs::plugin(kind = "worker")]
#[derive(Default)]
pub struct Churner;

#[plugobs::instrumented]
impl Churner {
    fn work(&self, x: u64) -> Result<u64, ChurnError> {
        if x % 5 == 0 {
            Err(ChurnError::Fifth)
        } else {
            Ok(x + 1)
        }
    }
}

const THREADS: u64 = 10_000;
const CALLS: u64 = 10;
/// Threads alive at once.
const BATCH: u64 = 8;

#[test]
fn ten_thousand_short_lived_threads_keep_exact_counts_and_bounded_memory() {
    let registry = Registry::from_descriptors([Churner::DESCRIPTOR]).unwrap();
    for _ in 0..THREADS / BATCH {
        std::thread::scope(|s| {
            for _ in 0..BATCH {
                s.spawn(|| {
                    for x in 0..CALLS {
                        let _ = std::hint::black_box(Churner.work(x));
                    }
                });
            }
        });
    }

    let stats = registry.stats();
    let op = &stats.plugins[0].operations[0];
    let total = THREADS * CALLS;
    assert_eq!(
        (op.calls, op.ok, op.errors, op.in_flight),
        (total, total * 4 / 5, total / 5, 0)
    );
    assert_eq!(op.errors_by_kind.get("fifth"), Some(&(total / 5)));

    let published = common::capture(|| registry.flush());
    let base = [
        ("plugin", "churner"),
        ("kind", "worker"),
        ("instance", "churner"),
        ("operation", "work"),
    ];
    let outcome = |o| {
        let mut l = base.to_vec();
        l.push(("outcome", o));
        published.counter("plugobs_plugin_operations_total", &l)
    };
    assert_eq!(outcome("ok"), Some(total * 4 / 5));
    assert_eq!(outcome("error"), Some(total / 5));

    // Without index reuse the 10 000 threads would have claimed all 64 exclusive shards
    // (about 60 KiB); with it, only as many as were ever alive at once, plus the test's
    // own threads.
    let memory = registry.operation_memory();
    assert!(
        memory <= 24 * 1024,
        "{memory} bytes of cells after 10 000 threads, at most {BATCH} alive at once"
    );
}
