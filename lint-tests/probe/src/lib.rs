//! Deliberate mistakes in instrumented methods. Empty in an ordinary build; the
//! `user_warnings` test of `plugobs-lint-tests` compiles it with `--cfg plugobs_lint_probe`
//! under `cargo clippy` and checks that each mistake is reported, by its own lint, at the
//! line marked `// expect: <lint>`, and that nothing else is.

#[cfg(plugobs_lint_probe)]
pub mod mistakes;
