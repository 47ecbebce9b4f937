struct NotAPlugin;

#[plugobs::instrumented]
impl NotAPlugin {
    fn write(&self, line: &str) -> usize {
        line.len()
    }

    fn flush(&self) {}
}

fn main() {}
