#[plugobs::plugin]
#[derive(Default)]
struct FileSink;

#[plugobs::instrumented(level = "verbose")]
impl FileSink {
    fn write(&self, line: &str) -> usize {
        line.len()
    }
}

fn main() {}
