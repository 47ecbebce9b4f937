// `sample` is an integer from 1 to 2^20, reported at the literal.
#[plugobs::plugin]
#[derive(Default)]
struct Codec;

#[plugobs::instrumented(sample = 0)]
impl Codec {
    fn decode(&self, n: u32) -> u32 {
        n
    }

    #[instrumented(sample = "16")]
    fn encode(&self, n: u32) -> u32 {
        n
    }

    #[instrumented(sample = 2000000)]
    fn check(&self) {}
}

fn main() {}
