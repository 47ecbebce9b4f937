#[derive(plugobs::ErrorKind)]
#[plugobs(krate = plugobs)]
enum FetchError {
    TimedOut,
}

fn main() {}
