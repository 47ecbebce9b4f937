// One error, at the trait the plugin does not implement.
pub trait Sink: Send + Sync {
    fn write(&self, line: &str);
}
pub trait Flush: Send + Sync {
    fn flush(&self);
}

#[plugobs::plugin(provides = [dyn Sink, dyn Flush])]
#[derive(Default)]
struct FileSink;

impl Sink for FileSink {
    fn write(&self, _line: &str) {}
}

fn main() {}
