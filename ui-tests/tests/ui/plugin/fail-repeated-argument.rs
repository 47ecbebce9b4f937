#[plugobs::plugin(kind = "sink", name = "a", kind = "source")]
#[derive(Default)]
struct FileSink;

fn main() {}
