// Hooks are `fn(&mut self)` or `fn(&self)`, sync or async.
#[plugobs::plugin(start = Self::open, stop = Self::close)]
#[derive(Default)]
struct ByMut;

impl ByMut {
    fn open(&mut self) -> Result<(), std::io::Error> {
        Ok(())
    }
    async fn close(&mut self) {}
}

#[plugobs::plugin(start = Self::open, stop = Self::close)]
#[derive(Default)]
struct ByRef;

impl ByRef {
    async fn open(&self) -> Result<(), String> {
        Ok(())
    }
    fn close(&self) {}
}

fn main() {}
