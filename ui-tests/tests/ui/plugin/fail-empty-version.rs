#[plugobs::plugin(version = " ")]
#[derive(Default)]
struct FileSink;

fn main() {}
