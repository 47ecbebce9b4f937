#[plugobs::plugin(provides = String)]
#[derive(Default)]
struct FileSink;

fn main() {}
