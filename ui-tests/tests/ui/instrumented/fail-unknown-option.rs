#[plugobs::plugin]
#[derive(Default)]
struct FileSink;

#[plugobs::instrumented]
impl FileSink {
    #[instrumented(nmae = "write_line")]
    fn write(&self, line: &str) -> usize {
        line.len()
    }
}

fn main() {}
