#[plugobs::plugin]
#[derive(Default)]
struct FileSink;

#[plugobs::instrumented]
impl FileSink {
    const fn limit(&self) -> usize {
        64
    }
}

fn main() {}
