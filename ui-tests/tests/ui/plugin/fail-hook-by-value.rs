#[plugobs::plugin(start = Self::open)]
#[derive(Default)]
struct FileSink;

impl FileSink {
    fn open(self) {}
}

fn main() {}
