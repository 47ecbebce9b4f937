//! The lint-clean shapes also run, and are recorded.
#![deny(warnings)]

use plugobs::Plugin;
use plugobs_lint_tests::shapes::{Shapes, free_function, free_one_line};

#[test]
fn shapes_run() {
    let registry = plugobs::Registry::from_descriptors([Shapes::DESCRIPTOR]).unwrap();
    let s = Shapes(2);
    assert_eq!(s.one_line(), 2);
    assert_eq!(s.multi_line(1), 5);
    assert_eq!(s.fallible("3"), Ok(5));
    assert_eq!(s.just_try("3"), Ok(4));
    assert_eq!(free_function(2, 3), 6);
    assert_eq!(free_one_line(2), 3);
    assert!(std::panic::catch_unwind(|| Shapes(1).todo()).is_err());
    let stats = registry.stats();
    let calls = |name: &str| {
        stats.plugins[0]
            .operations
            .iter()
            .find(|o| o.name == name)
            .map_or(0, |o| o.calls)
    };
    assert_eq!(calls("one_line"), 1);
    assert_eq!(calls("todo"), 1);
}
