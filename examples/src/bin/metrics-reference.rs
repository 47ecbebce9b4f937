//! Prints the metric reference, generated from `plugobs::names::ALL`.
//!
//! ```text
//! cargo run -p plugobs-examples --bin metrics-reference > docs/metrics.md
//! ```
//!
//! The test `metric_list::reference_is_current` fails when `docs/metrics.md` differs.

fn main() {
    print!("{}", plugobs::names::reference_markdown());
}
