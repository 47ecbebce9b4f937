// Both mistakes are reported, each at its own token.
#[plugobs::plugin]
#[derive(Default)]
struct FileSink;

#[plugobs::instrumented]
impl FileSink {
    #[instrumented(level = "loud", nmae = "write_line")]
    fn write(&self, line: &str) -> usize {
        line.len()
    }
}

fn main() {}
