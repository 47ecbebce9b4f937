// A future of a named type cannot be wrapped, so its call cannot be measured until it
// completes: a compile error at the return type, whether it is named directly, through a
// type alias, or as an associated type (tower's `Service` shape).
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pub struct Later(u32);

impl Future for Later {
    type Output = Result<u32, ()>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Ok(self.0))
    }
}

type Alias = Later;

pub trait Service {
    type Future: Future;
    fn call(&self, x: u32) -> Self::Future;
}

#[plugobs::plugin]
#[derive(Default)]
struct Svc;

#[plugobs::instrumented]
impl Service for Svc {
    type Future = Later;

    fn call(&self, x: u32) -> Self::Future {
        Later(x)
    }
}

#[plugobs::instrumented]
impl Svc {
    fn named(&self, x: u32) -> Later {
        Later(x)
    }

    fn aliased(&self, x: u32) -> Alias {
        Later(x)
    }
}

fn main() {}
