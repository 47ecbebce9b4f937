#[derive(Debug, plugobs::ErrorKind)]
struct Timeout {
    after_ms: u64,
}

fn main() {}
