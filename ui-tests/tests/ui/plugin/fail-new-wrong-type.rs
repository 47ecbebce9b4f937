#[plugobs::plugin(new = make)]
struct FileSink;

fn make() -> Option<FileSink> {
    Some(FileSink)
}

fn main() {}
