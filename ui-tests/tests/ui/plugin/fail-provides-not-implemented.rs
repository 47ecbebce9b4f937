pub trait Sink: Send + Sync {
    fn write(&self, line: &str);
}

#[plugobs::plugin(provides = dyn Sink)]
#[derive(Default)]
struct FileSink;

fn main() {}
