#[plugobs::plugin(health = Self::check)]
#[derive(Default)]
struct FileSink;

impl FileSink {
    fn check(&self, verbose: bool) -> plugobs::Health {
        plugobs::Health::healthy().with_detail("verbose", verbose)
    }
}

fn main() {}
