#[plugobs::plugin]
#[derive(Default)]
struct FileSink;

#[plugobs::instrumented(plugin = FileSink, skip)]
fn helper() -> u32 {
    1
}

fn main() {}
