// A bad impl-level option is an error even when the impl has no method to apply it to.
#[plugobs::plugin]
#[derive(Default)]
struct FileSink;

#[plugobs::instrumented(level = "verbose")]
impl FileSink {}

fn main() {}
