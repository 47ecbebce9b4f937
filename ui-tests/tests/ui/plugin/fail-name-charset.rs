#[plugobs::plugin(name = "file sink")]
#[derive(Default)]
struct FileSink;

fn main() {}
