// A syntax error in a body is rustc's to report: once, with no plugobs hint.
#[plugobs::plugin]
#[derive(Default)]
struct FileSink;

#[plugobs::instrumented]
impl FileSink {
    #[instrumented(name = "write_line")]
    fn write(&self, line: &str) -> usize {
        let n = line.len() +;
        n
    }
}

fn main() {}
