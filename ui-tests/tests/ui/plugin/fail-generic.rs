#[plugobs::plugin]
#[derive(Default)]
struct Buffer<T> {
    items: Vec<T>,
}

fn main() {}
