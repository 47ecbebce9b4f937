#[plugobs::plugin(kind = "")]
#[derive(Default)]
struct FileSink;

fn main() {}
