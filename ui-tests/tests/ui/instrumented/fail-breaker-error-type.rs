// A rejected call returns `Err(E::from(BreakerOpen))`: an error type without that
// conversion, or a return type that is not a `Result`, is reported at the return type.
#[derive(Debug)]
struct WriteError;

#[plugobs::plugin]
#[derive(Default)]
struct Sink;

#[plugobs::instrumented(breaker)]
impl Sink {
    fn write(&self) -> Result<u32, WriteError> {
        Ok(1)
    }

    fn count(&self) -> u32 {
        1
    }

    async fn flush(&self) -> Result<(), WriteError> {
        std::future::ready(()).await;
        Ok(())
    }
}

fn main() {}
