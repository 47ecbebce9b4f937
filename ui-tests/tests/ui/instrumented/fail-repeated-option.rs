#[plugobs::plugin]
#[derive(Default)]
struct FileSink;

#[plugobs::instrumented]
impl FileSink {
    #[instrumented(level = "info", err, level = "debug")]
    fn write(&self, line: &str) -> Result<usize, String> {
        Ok(line.len())
    }
}

fn main() {}
