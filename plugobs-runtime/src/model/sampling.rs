//! Sampled timing: timing one call in N, with every call still counted exactly.
//!
//! Timing a call takes two reads of the clock, which is most of what an instrumented call
//! costs once its body is a few nanoseconds (a codec, a log enricher called millions of
//! times a second). The counts must be exact; the latency distribution is a statistic,
//! and a statistic can be sampled:
//!
//! ```text
//! #[plugobs::instrumented(sample = 16)]    // on an impl or a method: one call in 16 timed
//! registry.set_sampling("enricher", Some(64))?;                  // the host, per plugin
//! registry.set_instance_sampling("kafka", "kafka-us", Some(4))?; // per instance
//! plugobs::Registry::set_default_sampling(Some(8))?;             // every other operation
//! ```
//!
//! The rate of an operation on an instance is the host's setting for that instance, else
//! for the plugin, else the operation's `sample = N`, else the process-wide default, else
//! 1 (every call timed).
//!
//! # What changes
//!
//! - **Exact, as before:** `plugobs_plugin_operations_total` (calls by outcome), errors by
//!   kind, in-flight, panics, cancellations, and every count in `stats()`.
//! - **The latency histogram holds the timed calls only:** its buckets, `_count` and `_sum`
//!   are those of the calls that were timed, not scaled up. So `rate(_sum) / rate(_count)`
//!   is the mean latency of the timed calls — an unbiased estimate of the mean —, and
//!   `histogram_quantile` is unbiased too; for call rates, use
//!   `plugobs_plugin_operations_total`, never the histogram's `_count`. `stats()` gives
//!   each operation's `sampled` rate and `timed_calls`; the status page marks the
//!   operation "1 in 16 timed"; the Prometheus exposition has a comment line before the
//!   histogram family naming each sampled operation.
//! - **Which calls:** each thread keeps a countdown per operation and instance, reset
//!   after each timed call to a random gap of mean N (one random number per *timed*
//!   call), so a pattern in the calls — every 4th one slow — cannot line up with the
//!   sampling, as it would with a fixed stride.
//! - **Error of the estimates:** with n timed calls, a share p (of calls slower than some
//!   bound) is estimated within ±2·√(p(1−p)/n) at 95 %; the mean within ±2·σ/√n. With
//!   N = 16 and 160 000 calls, n ≈ 10 000: a p99 is read from about 100 timed calls
//!   above it.
//! - **Derived figures:** the busy ratio scales each sampled operation's latency sum by
//!   calls ÷ timed calls; the health policy's p99 reads the sampled histogram.
//!
//! # When to sample
//!
//! When an operation is called so often that its clock reads show up (tens of
//! nanoseconds on a body that takes a few): a codec, a parser, an enricher per log line.
//! An operation called a few hundred times a second gains nothing — and its p99 would
//! come from few timed calls: keep it unsampled.

/// The largest sampling rate: one call in this many timed.
pub const MAX_SAMPLE: u32 = 1 << 20;
