#[plugobs::plugin]
enum Codec {
    Json,
    Csv,
}

fn main() {}
