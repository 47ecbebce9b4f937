#[plugobs::plugin(health = Self::check)]
#[derive(Default)]
struct FileSink;

impl FileSink {
    fn check(&mut self) -> plugobs::Health {
        plugobs::Health::healthy()
    }
}

fn main() {}
