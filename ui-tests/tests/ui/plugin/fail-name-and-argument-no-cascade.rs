// A bad name next to another mistake: both are reported, and nothing else.
#[plugobs::plugin(name = "file/sink", kind = "")]
#[derive(Default)]
struct FileSink;

#[plugobs::instrumented]
impl FileSink {
    fn write(&self, line: &str) -> usize {
        line.len()
    }
}

fn main() {
    let _ = FileSink.write("x");
}
