// `err` on a method whose future does not resolve to a `Result`, next to one that does.
#[plugobs::plugin]
#[derive(Default)]
struct FileSink;

#[plugobs::instrumented]
impl FileSink {
    #[instrumented(err)]
    async fn flush(&self) -> usize {
        0
    }

    #[instrumented(err)]
    async fn sync(&self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() {}
