#[plugobs::plugin(kind = "sink", verison = "1.0.0")]
#[derive(Default)]
struct FileSink;

fn main() {}
