// Every `breaker(...)` setting is checked where it is written.
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
    #[instrumented(breaker(consecutive = 0))]
    fn a(&self) -> Result<(), Unavailable> {
        Ok(())
    }

    #[instrumented(breaker(failure_ratio = "150%"))]
    fn b(&self) -> Result<(), Unavailable> {
        Ok(())
    }

    #[instrumented(breaker(open_for = "30"))]
    fn c(&self) -> Result<(), Unavailable> {
        Ok(())
    }

    #[instrumented(breaker(window = "10s", consecutive = 5))]
    fn d(&self) -> Result<(), Unavailable> {
        Ok(())
    }

    #[instrumented(breaker(probes = 5000, timeout = "1s"))]
    fn e(&self) -> Result<(), Unavailable> {
        Ok(())
    }

    #[instrumented(breaker = true)]
    fn f(&self) -> Result<(), Unavailable> {
        Ok(())
    }

    #[instrumented(breaker)]
    fn g(&self) {}
}

fn main() {}
