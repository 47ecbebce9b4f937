#[plugobs::plugin(name = "")]
#[derive(Default)]
struct FileSink;

fn main() {}
