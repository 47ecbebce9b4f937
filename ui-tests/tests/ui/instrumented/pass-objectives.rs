// Objectives on a plugin, an impl and a method; a method's own win over its impl's,
// which win over its plugin's.
#[plugobs::plugin(objective = "99.9%", latency = "1s")]
#[derive(Default)]
struct FileSink;

#[plugobs::instrumented(objective = "99%")]
impl FileSink {
    fn write(&self, line: &str) -> usize {
        line.len()
    }

    #[instrumented(objective = "99.95%", latency = "250ms")]
    fn flush(&self) {}

    #[instrumented(latency = "800us")]
    fn close(&self) {}
}

fn main() {
    use plugobs::Plugin as _;
    let sink = FileSink;
    sink.write("x");
    sink.flush();
    sink.close();
    let stats = FileSink::stats().unwrap();
    let objectives: Vec<_> = stats
        .operations
        .iter()
        .map(|o| (o.name, o.objective, o.latency_objective))
        .collect();
    let ms = std::time::Duration::from_millis;
    assert_eq!(
        objectives,
        [
            ("close", Some(0.99), Some(std::time::Duration::from_micros(800))),
            ("flush", Some(0.9995), Some(ms(250))),
            ("write", Some(0.99), Some(ms(1000))),
        ]
    );
}
