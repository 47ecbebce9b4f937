//! Every argument, sync and async hooks, several traits.
use std::fmt;

pub trait Sink: Send + Sync {
    fn write(&self, line: &str);
}
pub trait Flush: Send + Sync {
    fn flush(&self);
}

#[derive(Debug)]
pub struct OpenError;
impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot open")
    }
}

/// A sink that writes to a file.
#[plugobs::plugin(
    name = "file",
    kind = "sink",
    version = "0.3.1",
    description = "Writes lines to a file.",
    new = Self::create,
    provides = [dyn Sink, dyn Flush],
    start = Self::open,
    stop = Self::close,
    crate = ::plugobs,
)]
pub struct FileSink {
    path: String,
}

impl FileSink {
    fn create() -> Result<Self, OpenError> {
        Ok(FileSink { path: "/tmp/x".into() })
    }
    async fn open(&mut self) -> Result<(), OpenError> {
        Ok(())
    }
    fn close(&mut self) {}
}

impl Sink for FileSink {
    fn write(&self, line: &str) {
        let _ = (line, &self.path);
    }
}
impl Flush for FileSink {
    fn flush(&self) {}
}

fn main() {
    let sinks = plugobs::registry().load_all::<dyn Sink>();
    assert_eq!(sinks.loaded.len(), 1);
    let flushers = plugobs::registry().load_all::<dyn Flush>();
    assert_eq!(flushers.loaded.len(), 1);
}
