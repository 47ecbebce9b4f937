#[plugobs::plugin]
struct FileSink {
    path: String,
}

fn main() {}
