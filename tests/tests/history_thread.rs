//! The background thread keeps the process-wide registry's history once it is wanted,
//! on the history's own schedule: with a flush interval of an hour, the first point is
//! still taken at once. One test: the thread and the global registry are per process.

use std::time::{Duration, Instant};

#[plugobs::plugin(kind = "sink")]
#[derive(Default)]
pub struct TimedSink;

#[plugobs::instrumented]
impl TimedSink {
    fn write(&self, line: &str) -> usize {
        line.len()
    }
}

#[test]
fn the_history_is_kept_on_its_own_schedule_whatever_the_flush_interval() {
    plugobs::bridge::set_flush_interval(Duration::from_secs(3600));
    let _ = TimedSink.write("a");
    assert!(
        plugobs::registry().history("timed_sink").unwrap()[0]
            .health
            .is_empty(),
        "nothing keeps the history before it is wanted"
    );
    plugobs::bridge::keep_history().unwrap();
    // The first point is taken at once; the deadline only turns a hang into a failure
    // (without its own schedule, the thread would wait for the hour-long flush).
    let deadline = Instant::now() + Duration::from_secs(10);
    let history = loop {
        let history = plugobs::registry().history("timed_sink").unwrap();
        if !history[0].health.is_empty() || Instant::now() > deadline {
            break history;
        }
        std::thread::yield_now();
    };
    assert_eq!(history.len(), 1);
    let first = &history[0];
    assert_eq!(
        (first.name, first.instance, first.kind),
        ("timed_sink", "timed_sink", "sink")
    );
    assert_eq!(first.health.len(), 1, "one point, taken at once");
    // The first point is the history's baseline: the call before it is no interval's.
    assert!(first.operations.iter().all(|o| o.points.is_empty()));
    assert!(plugobs::bridge::background_flush_running());
}
