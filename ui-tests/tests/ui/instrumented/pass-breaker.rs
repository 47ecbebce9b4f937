// Breakers on every shape they support: sync, `async fn` with and without `.await`, a
// tail `async move` block, with `err`, `cpu`, `sample` and the error types that convert
// from `BreakerOpen` (an enum, `Box<dyn Error>`, `io::Error` through a wrapper).
#![deny(warnings)]

use std::future::Future;

#[derive(Debug)]
pub enum SinkError {
    Full,
    Unavailable(plugobs::BreakerOpen),
}

impl std::fmt::Display for SinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl From<plugobs::BreakerOpen> for SinkError {
    fn from(open: plugobs::BreakerOpen) -> Self {
        SinkError::Unavailable(open)
    }
}

#[plugobs::plugin]
#[derive(Default)]
pub struct Sink;

#[plugobs::instrumented(breaker(consecutive = 5, open_for = "1m", probes = 3), err)]
impl Sink {
    pub fn write(&self, n: u32) -> Result<u32, SinkError> {
        if n == 0 {
            return Err(SinkError::Full);
        }
        Ok(n)
    }

    #[instrumented(breaker(failure_ratio = "25.5%", window = "30s", min_calls = 100), cpu, sample = 4)]
    pub fn boxed(&self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Ok(())
    }

    pub async fn flush(&self) -> Result<(), SinkError> {
        Ok(())
    }

    pub async fn drain(&self) -> Result<u32, SinkError> {
        std::future::ready(()).await;
        Ok(1)
    }

    pub fn later(&self) -> impl Future<Output = Result<u32, SinkError>> + '_ {
        async move { self.write(1) }
    }
}

fn main() {
    let sink = Sink;
    assert_eq!(sink.write(2).ok(), Some(2));
    assert!(sink.boxed().is_ok());
    assert!(plugobs::block_on(sink.flush()).is_ok());
    assert_eq!(plugobs::block_on(sink.drain()).ok(), Some(1));
    assert_eq!(plugobs::block_on(sink.later()).ok(), Some(1));
}
