//! Sampled timing (issue 24): with `sample = N` one call in N is timed and every call is
//! still counted exactly; the histogram holds the timed calls, and its estimates stay
//! unbiased against a periodic pattern in the calls.
//!
//! Operation cells are process-wide, per plugin: each test uses plugins of its own. The
//! process-wide default is set by one test only, whose other plugins declare their own.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use plugobs::exposition::{self, Format};
use plugobs::{OperationStats, Plugin, Registry, RegistryError};

#[derive(Debug, plugobs::ErrorKind)]
pub enum CodecError {
    Corrupt,
}

/// Every 5th input (0, 5, 10, …) is corrupt.
#[plugobs::plugin(kind = "codec")]
#[derive(Default)]
pub struct Sampled;

#[plugobs::instrumented(sample = 16)]
impl Sampled {
    fn decode(&self, n: u64) -> Result<u64, CodecError> {
        if n % 5 == 0 {
            Err(CodecError::Corrupt)
        } else {
            Ok(black_box(n))
        }
    }
}

fn op<'a>(stats: &'a [OperationStats], name: &str) -> &'a OperationStats {
    stats.iter().find(|o| o.name == name).unwrap()
}

#[test]
fn every_call_is_counted_exactly_and_one_in_n_is_timed() {
    const PER_THREAD: u64 = 40_000;
    let barrier = Barrier::new(4);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                barrier.wait();
                let codec = Sampled;
                for n in 0..PER_THREAD {
                    let _ = codec.decode(n);
                }
            });
        }
    });
    let registry = Registry::from_descriptors([Sampled::DESCRIPTOR]).unwrap();
    let stats = registry.stats();
    let decode = op(&stats.plugins[0].operations, "decode");
    let calls = 4 * PER_THREAD;
    assert_eq!(
        (
            decode.calls,
            decode.ok,
            decode.errors,
            decode.errors_by_kind.clone()
        ),
        (
            calls,
            calls * 4 / 5,
            calls / 5,
            [("corrupt", calls / 5)].into_iter().collect()
        )
    );
    assert_eq!((decode.in_flight, decode.panics), (0, 0));
    assert_eq!(decode.sampled, Some(16));
    // One in 16 on average, at random gaps: 10 000 expected, σ ≈ 97 (a gap's σ is
    // about N / √3 over ~10 000 gaps); 6 σ either side.
    assert!(
        (9_400..=10_600).contains(&decode.timed_calls),
        "{} timed of {calls}",
        decode.timed_calls
    );

    let text = exposition::render(&registry, Format::Prometheus);
    let labels = r#"{plugin="sampled",kind="codec",instance="sampled",operation="decode""#;
    let value = |series: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
            .to_owned()
    };
    assert_eq!(
        value(&format!(
            "plugobs_plugin_operations_total{labels},outcome=\"ok\"}}"
        )),
        (calls * 4 / 5).to_string()
    );
    assert_eq!(
        value(&format!(
            "plugobs_plugin_operation_duration_seconds_count{labels}}}"
        )),
        decode.timed_calls.to_string()
    );
    assert!(text.contains(&format!(
        "# sampled: plugobs_plugin_operation_duration_seconds{labels}}} times 1 call in 16: \
         its buckets, _count and _sum are the timed calls'\n"
    )));
}

/// Returns at once, but every 4th call spins for 200 µs.
#[plugobs::plugin(kind = "codec")]
#[derive(Default)]
pub struct Periodic;

const SLOW: Duration = Duration::from_micros(200);

#[plugobs::instrumented(sample = 16)]
impl Periodic {
    fn call(&self, n: u64) -> u64 {
        if n % 4 == 3 {
            let until = Instant::now() + SLOW;
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        }
        n
    }
}

#[test]
fn the_sampled_distribution_follows_a_periodic_pattern() {
    // A fixed stride of 16 would time always the same phase of the pattern of 4 (all
    // fast or all slow); the random gaps do not.
    let p = Periodic;
    for n in 0..16_000 {
        black_box(p.call(n));
    }
    let registry = Registry::from_descriptors([Periodic::DESCRIPTOR]).unwrap();
    let stats = registry.stats();
    let call = op(&stats.plugins[0].operations, "call");
    assert_eq!((call.calls, call.sampled), (16_000, Some(16)));
    let n = call.timed_calls as f64;
    assert!((800.0..=1_200.0).contains(&n), "{n} timed");
    // A quarter of the timed calls are slow: the mean is 50 µs (plus the spin's
    // overshoot), within the stated error. σ of the slow share = √(¼·¾ / n) ≈ 1.5 %
    // for n ≈ 1 000; the bounds are 5 σ: 17.5 % to 32.5 % slow.
    let mean = call.mean.unwrap();
    assert!(
        mean >= SLOW.mul_f64(0.175) && mean <= SLOW.mul_f64(0.325) + Duration::from_micros(15),
        "mean {mean:?} of {n} timed"
    );
    // The median is a fast call; the p99 a slow one.
    assert!(call.p50.unwrap() < Duration::from_micros(20), "{call:?}");
    assert!(call.p99.unwrap() >= SLOW.mul_f64(0.97), "{call:?}");
}

/// Declares nothing; the host sets its rate.
#[plugobs::plugin(kind = "codec")]
#[derive(Default)]
pub struct Configured;

#[plugobs::instrumented]
impl Configured {
    fn plain(&self) {}

    #[instrumented(sample = 8)]
    fn declared(&self) {}
}

fn rates(registry: &Registry, instance: &str) -> Vec<(&'static str, Option<u32>)> {
    let stats = registry.stats();
    let row = stats
        .plugins
        .iter()
        .find(|p| p.instance == instance)
        .unwrap();
    row.operations.iter().map(|o| (o.name, o.sampled)).collect()
}

#[test]
fn the_host_sets_rates_per_plugin_per_instance_and_by_default() {
    let registry = Registry::from_descriptors([Configured::DESCRIPTOR]).unwrap();
    let c = Configured;
    let call_both = || {
        c.declared();
        c.plain();
    };
    call_both();
    assert_eq!(
        rates(&registry, "configured"),
        [("declared", Some(8)), ("plain", None)]
    );
    // The process-wide default: for operations that declare nothing.
    Registry::set_default_sampling(Some(4)).unwrap();
    call_both();
    assert_eq!(
        rates(&registry, "configured"),
        [("declared", Some(8)), ("plain", Some(4))]
    );
    // The plugin's setting wins over what its operations declare.
    registry.set_sampling("configured", Some(32)).unwrap();
    assert_eq!(
        rates(&registry, "configured"),
        [("declared", Some(32)), ("plain", Some(32))]
    );
    // An instance's wins over its plugin's: here the default instance's, by its name.
    registry
        .set_instance_sampling("configured", "configured", Some(1))
        .unwrap();
    assert_eq!(
        rates(&registry, "configured"),
        [("declared", None), ("plain", None)]
    );
    registry
        .set_instance_sampling("configured", "configured", None)
        .unwrap();
    registry.set_sampling("configured", None).unwrap();
    Registry::set_default_sampling(None).unwrap();
    assert_eq!(
        rates(&registry, "configured"),
        [("declared", Some(8)), ("plain", None)]
    );

    // Bad input: typed errors.
    assert!(matches!(
        registry.set_sampling("configured", Some(0)),
        Err(RegistryError::InvalidSampling { every: 0 })
    ));
    assert!(matches!(
        Registry::set_default_sampling(Some(plugobs::sampling::MAX_SAMPLE + 1)),
        Err(RegistryError::InvalidSampling { .. })
    ));
    assert!(matches!(
        registry.set_sampling("nope", Some(4)),
        Err(RegistryError::UnknownPlugin { .. })
    ));
    assert!(matches!(
        registry.set_instance_sampling("configured", "no spaces", Some(4)),
        Err(RegistryError::InvalidInstanceName { .. })
    ));
    assert_eq!(
        RegistryError::InvalidSampling { every: 0 }.to_string(),
        "sampling rate 0 is out of range: time one call in 1 to 1048576 calls"
    );
}
