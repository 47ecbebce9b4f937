#[plugobs::plugin(stop = Self::close)]
#[derive(Default)]
struct FileSink;

impl FileSink {
    fn close(&mut self, flush: bool) {
        let _ = flush;
    }
}

fn main() {}
