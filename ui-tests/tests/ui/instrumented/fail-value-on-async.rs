// `value` is for a returned future plugobs cannot wrap; an `async fn`'s future is measured
// until it completes, so `value` on one is a mistake.
#[plugobs::plugin]
#[derive(Default)]
struct Svc;

#[plugobs::instrumented]
impl Svc {
    #[instrumented(value)]
    async fn call(&self, x: u32) -> u32 {
        x
    }
}

fn main() {}
