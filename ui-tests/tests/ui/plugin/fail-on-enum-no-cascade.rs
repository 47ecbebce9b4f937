// `#[plugin]` on an enum: one error, and the enum's instrumented impl adds none.
#[plugobs::plugin]
enum Sink {
    File,
}

#[plugobs::instrumented]
impl Sink {
    fn write(&self, line: &str) -> usize {
        line.len()
    }
}

fn main() {
    let _ = Sink::File.write("x");
}
