#[plugobs::instrumented]
struct FileSink;

fn main() {}
