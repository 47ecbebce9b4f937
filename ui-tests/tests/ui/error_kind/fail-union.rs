// The one error is the derive on a union; using the type as an error kind adds none.
#[derive(plugobs::ErrorKind)]
union Bits {
    int: u32,
    float: f32,
}

fn kind(e: &Bits) -> &'static str {
    plugobs::ErrorKind::error_kind(e)
}

fn main() {
    let _ = kind;
}
