#[plugobs::plugin(start = Self::open)]
#[derive(Default)]
struct FileSink;

impl FileSink {
    fn open(&mut self) -> std::io::Result<u32> {
        Ok(3)
    }
}

fn main() {}
