//! `plugobs::prometheus::install`: the host's metrics and plugobs' families come out of
//! one `render()`, each family once, and the bridge stores nothing in the recorder.
//! (Its own test binary: it installs the process-wide recorder.)

use plugobs::prometheus::{self, BuildError};

#[plugobs::plugin(kind = "sink")]
#[derive(Default)]
pub struct NullSink;

#[plugobs::instrumented]
impl NullSink {
    fn write(&self, line: &str) -> Result<usize, std::io::Error> {
        Ok(line.len())
    }
}

#[test]
fn one_render_with_the_hosts_metrics_and_plugobs_families_once() {
    let exporter = prometheus::install().expect("first install");
    assert!(matches!(
        prometheus::install(),
        Err(BuildError::FailedToSetGlobalRecorder(_))
    ));
    metrics::counter!("host_requests_total").increment(3);
    for _ in 0..7 {
        NullSink.write("abc").unwrap();
    }
    // Whatever the bridge does, it must not publish plugobs' families into the recorder
    // that renders them itself.
    plugobs::flush();
    let own = exporter.handle().render();
    assert!(
        !own.contains("plugobs_"),
        "the recorder received plugobs series through the bridge:\n{own}"
    );

    let text = exporter.render();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.contains(&"host_requests_total 3"), "{text}");
    assert!(lines.contains(
        &r#"plugobs_plugin_operations_total{plugin="null_sink",kind="sink",instance="null_sink",operation="write",outcome="ok"} 7"#
    ));
    for family in [
        "plugobs_plugin_operations_total",
        "plugobs_plugin_operation_duration_seconds",
        "plugobs_plugins",
    ] {
        let headers = lines
            .iter()
            .filter(|l| l.starts_with(&format!("# TYPE {family} ")))
            .count();
        assert_eq!(headers, 1, "{family} in\n{text}");
    }
}
