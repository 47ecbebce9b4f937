#[plugobs::plugin(health = Self::check)]
#[derive(Default)]
struct FileSink;

impl FileSink {
    fn check(&self) -> bool {
        true
    }
}

fn main() {}
