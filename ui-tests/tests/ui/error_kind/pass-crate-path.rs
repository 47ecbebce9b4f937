// `#[plugobs(crate = path)]` names plugobs when it is renamed.
use plugobs as observability;

#[derive(observability::ErrorKind)]
#[plugobs(crate = observability)]
enum FetchError {
    TimedOut,
    Refused,
}

fn main() {
    use observability::ErrorKind;
    assert_eq!(FetchError::TimedOut.error_kind(), "timed_out");
    assert_eq!(FetchError::Refused.error_kind(), "refused");
}
