//! Every macro error points at the offending token and says what to write instead. Run
//! with `TRYBUILD=overwrite` to regenerate the `.stderr` files after a deliberate change.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/*/pass-*.rs");
    t.compile_fail("tests/ui/*/fail-*.rs");
}
