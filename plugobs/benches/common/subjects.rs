//! The function under test and its instrumented and hand-written variants, shared by the
//! benches. Every variant's method is `#[inline(never)]` around the same
//! `#[inline(always)]` body, so each call is one real call in every case.

use std::time::Instant;

use metrics::{Counter, Gauge, Histogram};

#[derive(Debug, plugobs::ErrorKind)]
pub enum BenchError {
    Divisible,
}

impl std::fmt::Display for BenchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("divisible by 64")
    }
}

impl std::error::Error for BenchError {}

impl From<plugobs::BreakerOpen> for BenchError {
    fn from(_: plugobs::BreakerOpen) -> Self {
        BenchError::Divisible
    }
}

/// The tiny fallible body: an error for one input in 64.
#[inline(always)]
pub fn body(x: u64) -> Result<u64, BenchError> {
    if x % 64 == 0 {
        Err(BenchError::Divisible)
    } else {
        Ok(x.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17))
    }
}

/// 2, 3, 7. A plugobs operation.
#[plugobs::plugin(kind = "bench")]
#[derive(Default)]
pub struct BenchPlugin;

#[plugobs::instrumented]
impl BenchPlugin {
    #[inline(never)]
    pub fn parse(&self, x: u64) -> Result<u64, BenchError> {
        body(x)
    }
}

/// 4. What a careful user writes by hand: handles resolved once, two clock reads per call.
pub struct HandCached {
    ok: Counter,
    error: Counter,
    duration: Histogram,
    in_flight: Gauge,
}

impl HandCached {
    /// Resolves the handles from the installed recorder; call it after installing.
    pub fn new() -> Self {
        let labels = [
            ("plugin", "hand_cached"),
            ("kind", "bench"),
            ("operation", "parse"),
        ];
        let with_outcome = |outcome: &'static str| {
            let mut l: Vec<(&'static str, &'static str)> = labels.to_vec();
            l.push(("outcome", outcome));
            l
        };
        HandCached {
            ok: metrics::counter!("hand_operations_total", &with_outcome("ok")),
            error: metrics::counter!("hand_operations_total", &with_outcome("error")),
            duration: metrics::histogram!("hand_operation_duration_seconds", &labels),
            in_flight: metrics::gauge!("hand_operations_in_flight", &labels),
        }
    }

    #[inline(never)]
    pub fn parse(&self, x: u64) -> Result<u64, BenchError> {
        self.in_flight.increment(1.0);
        let start = Instant::now();
        let result = body(x);
        let elapsed = start.elapsed();
        match &result {
            Ok(_) => self.ok.increment(1),
            Err(_) => self.error.increment(1),
        }
        self.duration.record(elapsed.as_secs_f64());
        self.in_flight.decrement(1.0);
        result
    }
}
