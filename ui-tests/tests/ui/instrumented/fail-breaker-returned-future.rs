// A breaker rejects a call before the plugin's code runs: a function that builds the
// future it returns in its own code cannot have one.
use std::future::Future;
use std::pin::Pin;

#[derive(Debug)]
struct Unavailable;

impl From<plugobs::BreakerOpen> for Unavailable {
    fn from(_: plugobs::BreakerOpen) -> Self {
        Unavailable
    }
}

#[plugobs::plugin]
#[derive(Default)]
struct Sink;

#[plugobs::instrumented]
impl Sink {
    #[instrumented(breaker)]
    fn write(&self) -> Pin<Box<dyn Future<Output = Result<(), Unavailable>> + Send>> {
        let ready = std::future::ready(Ok(()));
        Box::pin(ready)
    }
}

fn main() {}
