// `#[instrumented]` twice on one method: inside an instrumented impl, and on a method of
// an impl that is not instrumented (where, without the check, the method would be
// instrumented twice and every call counted twice).
#[plugobs::plugin]
#[derive(Default)]
struct FileSink;

#[plugobs::instrumented]
impl FileSink {
    #[instrumented]
    #[instrumented(level = "info")]
    fn write(&self, line: &str) -> usize {
        line.len()
    }
}

struct Other;

impl Other {
    #[plugobs::instrumented(plugin = FileSink)]
    #[plugobs::instrumented(plugin = FileSink)]
    fn flush(&self) {}
}

fn main() {
    let _ = FileSink.write("x");
    Other.flush();
}
