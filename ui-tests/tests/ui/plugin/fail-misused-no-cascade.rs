// The one error is the unknown argument: the instrumented impl and the uses of the
// plugin's descriptor still compile.
#[plugobs::plugin(nmae = "file")]
#[derive(Default)]
struct FileSink;

#[plugobs::instrumented]
impl FileSink {
    fn write(&self, line: &str) -> usize {
        line.len()
    }
}

fn main() {
    use plugobs::Plugin;
    let _ = FileSink::DESCRIPTOR.name;
    let _ = FileSink.write("x");
}
