// A function that never returns: its call ends in a panic (recorded as one), or not at all.
#[plugobs::plugin]
#[derive(Default)]
struct FileSink;

#[plugobs::instrumented]
impl FileSink {
    fn fail(&self, why: &str) -> ! {
        panic!("{why}")
    }

    fn fail_early(&self, why: &str) -> ! {
        if why.is_empty() {
            panic!("empty");
        }
        std::process::abort()
    }
}

fn main() {
    let _ = (FileSink::fail, FileSink::fail_early);
}
