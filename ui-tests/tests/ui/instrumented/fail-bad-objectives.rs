// Every mistake in an objective is reported at its literal, all at once.
#[plugobs::plugin(objective = "100%")]
#[derive(Default)]
struct FileSink;

#[plugobs::instrumented(objective = "99.9", latency = "250")]
impl FileSink {
    fn write(&self, line: &str) -> usize {
        line.len()
    }

    #[instrumented(objective = "99.99999%", latency = "-5ms")]
    fn flush(&self) {}

    #[instrumented(latency = 250)]
    fn close(&self) {}
}

fn main() {}
