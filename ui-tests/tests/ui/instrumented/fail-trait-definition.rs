#[plugobs::instrumented]
trait Sink {
    fn write(&self, line: &str);
}

fn main() {}
