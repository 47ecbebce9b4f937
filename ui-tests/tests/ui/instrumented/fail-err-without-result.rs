#[plugobs::plugin]
#[derive(Default)]
struct FileSink;

#[plugobs::instrumented]
impl FileSink {
    #[instrumented(err)]
    fn write(&self, line: &str) -> usize {
        line.len()
    }
}

fn main() {}
