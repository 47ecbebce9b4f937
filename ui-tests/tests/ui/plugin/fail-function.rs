#[plugobs::plugin]
fn make_plugin() {}

fn main() {}
