//! Who spends what: heap bytes attributed to the plugin whose code runs on the thread
//! (with `plugobs::alloc::Attributed` as this binary's global allocator), thread CPU time
//! of `#[instrumented(cpu)]` operations, and the busy ratio.

use std::hint::black_box;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use plugobs::exposition::{self, Format};
use plugobs::{Plugin, Registry};

#[global_allocator]
static ALLOC: plugobs::alloc::Attributed<std::alloc::System> =
    plugobs::alloc::Attributed::new(std::alloc::System);

#[plugobs::plugin(kind = "codec")]
#[derive(Default)]
pub struct Compressor;

#[plugobs::instrumented]
impl Compressor {
    /// Allocates exactly 1000 bytes and frees them.
    fn compress(&self) -> usize {
        let buffer = black_box(Vec::<u8>::with_capacity(1000));
        buffer.capacity()
    }
}

#[plugobs::plugin(kind = "codec")]
#[derive(Default)]
pub struct Decompressor;

#[plugobs::instrumented]
impl Decompressor {
    /// Allocates 4096 bytes and keeps them (returned to the caller, freed outside).
    fn decompress(&self) -> Vec<u8> {
        black_box(vec![0u8; 4096])
    }
}

fn bytes(plugin: &'static plugobs::PluginDescriptor) -> (u64, u64) {
    plugobs::alloc::bytes_of(plugin).expect("the Attributed allocator is installed")
}

#[test]
fn allocations_are_attributed_to_the_running_plugin_exactly() {
    // One call each first: the call sites' own memory is plugobs', allocated outside.
    Compressor.compress();
    drop(Decompressor.decompress());
    let (a0, f0) = bytes(Compressor::DESCRIPTOR);
    let (b0, g0) = bytes(Decompressor::DESCRIPTOR);

    let barrier = Barrier::new(2);
    let done = AtomicBool::new(false);
    let decompressed = std::thread::scope(|s| {
        let other = s.spawn(|| {
            barrier.wait();
            let mut n = 0u64;
            while !done.load(Ordering::Relaxed) || n < 100 {
                drop(Decompressor.decompress()); // freed here, outside the plugin
                n += 1;
            }
            n
        });
        barrier.wait();
        for _ in 0..10_000 {
            assert_eq!(Compressor.compress(), 1000);
        }
        done.store(true, Ordering::Relaxed);
        other.join().unwrap()
    });

    let (a1, f1) = bytes(Compressor::DESCRIPTOR);
    let (b1, g1) = bytes(Decompressor::DESCRIPTOR);
    assert_eq!((a1 - a0, f1 - f0), (10_000 * 1000, 10_000 * 1000));
    assert_eq!((b1 - b0, g1 - g0), (decompressed * 4096, 0));

    let registry =
        Registry::from_descriptors([Compressor::DESCRIPTOR, Decompressor::DESCRIPTOR]).unwrap();
    let text = exposition::render(&registry, Format::Prometheus);
    assert!(text.contains(&format!(
        "plugobs_plugin_allocated_bytes_total{{plugin=\"compressor\",kind=\"codec\",instance=\"compressor\"}} {a1}\n"
    )));
    assert!(text.contains(&format!(
        "plugobs_plugin_freed_bytes_total{{plugin=\"decompressor\",kind=\"codec\",instance=\"decompressor\"}} {g1}\n"
    )));
}

#[plugobs::plugin(kind = "hasher")]
#[derive(Default)]
pub struct Spinner;

#[plugobs::instrumented(cpu)]
impl Spinner {
    /// Spins for `d` of wall time; returns the wall time it took.
    fn spin(&self, d: Duration) -> Duration {
        let start = Instant::now();
        let mut x = 0u64;
        while start.elapsed() < d {
            x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        start.elapsed()
    }
}

fn sample(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `{prefix}` in\n{text}"))
}

#[test]
fn cpu_time_of_a_busy_loop_is_close_to_its_wall_time() {
    let registry = Registry::from_descriptors([Spinner::DESCRIPTOR]).unwrap();
    // The series exists from the first call on; 0 before it.
    let prefix = "plugobs_plugin_cpu_seconds_total{plugin=\"spinner\",kind=\"hasher\",instance=\"spinner\",operation=\"spin\"} ";
    let cpu_so_far = || {
        let text = exposition::render(&registry, Format::Prometheus);
        if text.contains(prefix) {
            sample(&text, prefix)
        } else {
            0.0
        }
    };
    // A busy loop's CPU time equals its wall time unless the thread is preempted, which a
    // machine busy with other tests can do to any one attempt: up to five attempts, each
    // compared on its own. CPU time not recorded (or recorded wrong) fails all five.
    let mut attempts = Vec::new();
    for _ in 0..5 {
        let before = cpu_so_far();
        let wall = Spinner.spin(Duration::from_millis(200)).as_secs_f64();
        let cpu = cpu_so_far() - before;
        attempts.push((cpu, wall));
        if (cpu - wall).abs() <= 0.2 * wall {
            return;
        }
    }
    panic!("CPU time never within 20 % of wall time: (cpu s, wall s) = {attempts:?}");
}

pub trait Sleep: Send + Sync {
    /// Meets the other caller at `together`, sleeps `d`, and meets it again.
    fn sleep(&self, d: Duration, together: &Barrier);
}

#[plugobs::plugin(kind = "sleeper", provides = dyn Sleep)]
#[derive(Default)]
pub struct Sleeper;

#[plugobs::instrumented]
impl Sleep for Sleeper {
    fn sleep(&self, d: Duration, together: &Barrier) {
        // Both calls are in progress here, whichever thread came first.
        together.wait();
        std::thread::sleep(d);
        // And still both in progress: neither returns before the other slept `d`.
        together.wait();
    }
}

#[test]
fn busy_ratio_is_time_inside_operations_over_wall_time_and_can_exceed_one() {
    let hold = Duration::from_millis(300);
    let began = Instant::now();
    let registry = Registry::from_descriptors([Sleeper::DESCRIPTOR]).unwrap();
    let sleeper = registry.load::<dyn Sleep>("sleeper").unwrap();
    // Two threads inside `sleep` at once for at least 300 ms, whatever the scheduling:
    // the barrier inside the operation holds each until the other is in it too, and
    // again until the other slept. About 0.6 s busy in about 0.3 s.
    let together = Barrier::new(2);
    std::thread::scope(|s| {
        s.spawn(|| sleeper.sleep(hold, &together));
        sleeper.sleep(hold, &together);
    });
    let stats = registry.stats();
    // The ratio's window runs from the load to `stats()`, inside this one.
    let wall = began.elapsed();
    let ratio = stats.plugins[0].busy_ratio;
    let operation = &stats.plugins[0].operations[0];
    assert_eq!((operation.calls, operation.in_flight), (2, 0));
    // Bounds that hold whatever the scheduling: each call lasted at least `hold` (so busy
    // time is at least 2 x hold) and both lie inside the window (so at most 2 x window).
    // (Less 1 %: the runtime dates the window's start from the wall clock, `SystemTime`,
    // which may be slewed against `Instant` while the test runs.)
    let floor = 0.99 * 2.0 * hold.as_secs_f64() / wall.as_secs_f64();
    assert!(
        (floor..=2.0).contains(&ratio),
        "busy ratio {ratio}, at least {floor} (2 x {hold:?} in {wall:?})"
    );
    // The usual range: the calls overlap for all but the microseconds the test spends
    // outside them; only a thread paused for 100 ms around the calls can take it lower.
    assert!((1.5..=2.0).contains(&ratio), "busy ratio {ratio}");
    let text = exposition::render(&registry, Format::Prometheus);
    let exported = sample(
        &text,
        "plugobs_plugin_busy_ratio{plugin=\"sleeper\",kind=\"sleeper\",instance=\"sleeper\"} ",
    );
    assert!(
        (1.5..=2.0).contains(&exported),
        "exported busy ratio {exported}"
    );
}

pub trait Buffered: Send + Sync {
    fn capacity(&self) -> usize;
}

#[plugobs::plugin(kind = "codec", provides = dyn Buffered, start = Self::open)]
#[derive(Default)]
pub struct Preallocating {
    buffer: Vec<u8>,
}

impl Preallocating {
    fn open(&mut self) {
        self.buffer = Vec::with_capacity(2048);
    }
}

impl Buffered for Preallocating {
    fn capacity(&self) -> usize {
        self.buffer.capacity()
    }
}

#[test]
fn allocations_of_the_constructor_and_hooks_are_the_plugins_too() {
    let registry = Registry::from_descriptors([Preallocating::DESCRIPTOR]).unwrap();
    let loaded = registry.load::<dyn Buffered>("preallocating").unwrap();
    assert_eq!(loaded.capacity(), 2048);
    // The start hook's buffer, and the box the constructor's instance is moved into.
    let boxed = std::mem::size_of::<Preallocating>() as u64;
    assert_eq!(bytes(Preallocating::DESCRIPTOR), (2048 + boxed, 0));
}
