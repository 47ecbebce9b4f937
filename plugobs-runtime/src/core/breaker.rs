//! The circuit breaker of one operation on one instance (see
//! [`crate::model::breaker`] for what it does): its state in one atomic word, changed
//! only by compare-and-swap, so every transition is exact whatever the threads do.
//!
//! The word holds the state, the probes still to let through in half-open, the probes in
//! flight and the probes that succeeded. A closed breaker with nothing in flight is the
//! word 0: a call checks it with one load. A call that was let through as a probe carries
//! that fact to its end ([`BreakerCall`]), so only probes decide a half-open breaker, and
//! a probe that ends after its breaker opened again (another probe failed) decides
//! nothing: the breaker waits for its last probe before it probes again.
//!
//! Time comes from [`now`]: a monotonic clock, or a manual one a test sets
//! ([`ManualClock`]).

use std::sync::Mutex;
use std::time::Duration;

use crate::core::sync::{
    AtomicU32, AtomicU64,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};
use crate::model::breaker::{BreakerOverride, BreakerSettings, BreakerState, Trip};
use crate::model::outcome::Outcome;

const STATE_SHIFT: u32 = 62;
const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const HALF_OPEN: u64 = 2;
/// Turned off by the host: every call goes through and nothing trips it.
const OFF: u64 = 3;
const FIELD: u64 = 0xFFFF;
const LEFT_SHIFT: u32 = 32;
const FLIGHT_SHIFT: u32 = 16;

/// The breaker's word, unpacked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Word {
    state: u64,
    /// Half-open: probes still to let through.
    left: u64,
    /// Probes in flight (in any state: a probe may outlive its half-open episode).
    flight: u64,
    /// Half-open: probes that succeeded.
    ok: u64,
}

impl Word {
    #[inline(always)]
    fn of(bits: u64) -> Word {
        Word {
            state: bits >> STATE_SHIFT,
            left: (bits >> LEFT_SHIFT) & FIELD,
            flight: (bits >> FLIGHT_SHIFT) & FIELD,
            ok: bits & FIELD,
        }
    }

    fn bits(self) -> u64 {
        (self.state << STATE_SHIFT)
            | ((self.left & FIELD) << LEFT_SHIFT)
            | ((self.flight & FIELD) << FLIGHT_SHIFT)
            | (self.ok & FIELD)
    }
}

/// What the breaker does with a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// It goes through.
    Pass,
    /// It goes through as a probe of a half-open breaker.
    Probe,
    /// It is rejected; the breaker is in this state.
    Reject(BreakerState),
}

/// The tumbling window of the ratio rule: when it began and the operation's counts then.
#[derive(Debug, Default)]
struct Window {
    began: u64,
    ended: u64,
    failed: u64,
}

/// One operation's breaker on one instance.
#[derive(Debug)]
pub(crate) struct Breaker {
    word: AtomicU64,
    /// When it last opened ([`now`]).
    opened_at: AtomicU64,
    /// Failures in a row (the `consecutive` rule).
    consecutive: AtomicU32,
    trips: AtomicU64,
    window: Mutex<Window>,
    // The settings, read on the cold paths only (a failure, an open breaker).
    /// 0: the ratio rule.
    consecutive_limit: AtomicU32,
    failure_ppm: AtomicU32,
    window_nanos: AtomicU64,
    min_calls: AtomicU32,
    open_nanos: AtomicU64,
    probes: AtomicU32,
}

/// The counts the ratio rule reads: calls that ended (not cancelled) and failures
/// (errors and panics).
pub(crate) trait Counts {
    /// (calls that ended and were not cancelled, failures among them).
    fn decided(&self) -> (u64, u64);
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Breaker {
    /// A closed breaker with `settings` (`None`: turned off).
    pub(crate) fn new(settings: Option<BreakerSettings>) -> Breaker {
        let breaker = Breaker {
            word: AtomicU64::new(0),
            opened_at: AtomicU64::new(0),
            consecutive: AtomicU32::new(0),
            trips: AtomicU64::new(0),
            window: Mutex::new(Window::default()),
            consecutive_limit: AtomicU32::new(0),
            failure_ppm: AtomicU32::new(0),
            window_nanos: AtomicU64::new(0),
            min_calls: AtomicU32::new(0),
            open_nanos: AtomicU64::new(0),
            probes: AtomicU32::new(1),
        };
        breaker.configure(settings);
        breaker
    }

    /// Changes its settings (`None`: turns it off; `Some` turns an off breaker on, closed).
    pub(crate) fn configure(&self, settings: Option<BreakerSettings>) {
        let Some(s) = settings else {
            self.word.store(Word::of(0).with_state(OFF).bits(), Release);
            return;
        };
        match s.trip {
            Trip::Ratio {
                failure_ppm,
                window,
                min_calls,
            } => {
                self.consecutive_limit.store(0, Relaxed);
                self.failure_ppm.store(failure_ppm, Relaxed);
                self.window_nanos.store(nanos(window), Relaxed);
                self.min_calls.store(min_calls, Relaxed);
            }
            Trip::Consecutive(n) => self.consecutive_limit.store(n.max(1), Relaxed),
        }
        self.open_nanos.store(nanos(s.open_for), Relaxed);
        self.probes
            .store(s.probes.clamp(1, BreakerSettings::MAX_PROBES), Relaxed);
        // An off breaker comes back closed; a live one keeps its state.
        let _ = self
            .word
            .compare_exchange(Word::of(0).with_state(OFF).bits(), 0, AcqRel, Relaxed);
    }

    /// Whether the host turned it off.
    pub(crate) fn is_off(&self) -> bool {
        Word::of(self.word.load(Acquire)).state == OFF
    }

    /// Its state (closed when turned off).
    pub(crate) fn state(&self) -> BreakerState {
        match Word::of(self.word.load(Acquire)).state {
            OPEN => BreakerState::Open,
            HALF_OPEN => BreakerState::HalfOpen,
            _ => BreakerState::Closed,
        }
    }

    /// Times it opened.
    pub(crate) fn trips(&self) -> u64 {
        self.trips.load(Relaxed)
    }

    /// Whether a call goes through: one load while it is closed with no probe in flight.
    #[inline(always)]
    pub(crate) fn admit(&self) -> Admit {
        if self.word.load(Acquire) == 0 {
            return Admit::Pass;
        }
        self.admit_slow()
    }

    #[cold]
    #[inline(never)]
    fn admit_slow(&self) -> Admit {
        let mut bits = self.word.load(Acquire);
        loop {
            let w = Word::of(bits);
            let next = match w.state {
                CLOSED | OFF => return Admit::Pass,
                OPEN => {
                    let opened = self.opened_at.load(Acquire);
                    let open_for = self.open_nanos.load(Relaxed);
                    // Half-open once `open_for` passed and its last probes ended.
                    if now().saturating_sub(opened) < open_for || w.flight > 0 {
                        return Admit::Reject(BreakerState::Open);
                    }
                    let probes = u64::from(self.probes.load(Relaxed));
                    Word {
                        state: HALF_OPEN,
                        left: probes - 1,
                        flight: 1,
                        ok: 0,
                    }
                }
                _ => {
                    if w.left == 0 {
                        return Admit::Reject(BreakerState::HalfOpen);
                    }
                    Word {
                        left: w.left - 1,
                        flight: w.flight + 1,
                        ..w
                    }
                }
            };
            match self
                .word
                .compare_exchange(bits, next.bits(), AcqRel, Acquire)
            {
                Ok(_) => return Admit::Probe,
                Err(actual) => bits = actual,
            }
        }
    }

    /// A call it let through ended with `outcome`; `probe` if it went as a probe.
    /// `counts` are the operation's, read when a failure may trip it.
    #[inline(always)]
    pub(crate) fn ended(&self, outcome: Outcome, probe: bool, counts: &dyn Counts) {
        let failed = matches!(outcome, Outcome::Error(_) | Outcome::Panic);
        if probe {
            self.probe_ended(outcome, failed);
        } else if failed {
            self.failed(counts);
        } else if outcome == Outcome::Ok && self.consecutive.load(Relaxed) != 0 {
            self.consecutive.store(0, Relaxed);
        }
    }

    /// A call let through while closed failed: may trip it.
    #[cold]
    #[inline(never)]
    fn failed(&self, counts: &dyn Counts) {
        if Word::of(self.word.load(Acquire)).state != CLOSED {
            return;
        }
        let limit = self.consecutive_limit.load(Relaxed);
        if limit > 0 {
            let failures = self.consecutive.fetch_add(1, Relaxed).saturating_add(1);
            if failures >= limit {
                self.trip_closed();
            }
            return;
        }
        // Another failing thread is reading the counts right now: it decides.
        let Ok(mut window) = self.window.try_lock() else {
            return;
        };
        let (ended, failed) = counts.decided();
        let at = now();
        if at.saturating_sub(window.began) >= self.window_nanos.load(Relaxed) {
            // A new window, beginning with this failure.
            *window = Window {
                began: at,
                ended: ended.saturating_sub(1),
                failed: failed.saturating_sub(1),
            };
        }
        let calls = ended.saturating_sub(window.ended);
        let failures = failed.saturating_sub(window.failed);
        let min = u64::from(self.min_calls.load(Relaxed)).max(1);
        let ppm = u64::from(self.failure_ppm.load(Relaxed));
        if calls >= min && u128::from(failures) * 1_000_000 >= u128::from(ppm) * u128::from(calls) {
            drop(window);
            self.trip_closed();
        }
    }

    /// Closed → open.
    fn trip_closed(&self) {
        let mut bits = self.word.load(Acquire);
        loop {
            let w = Word::of(bits);
            if w.state != CLOSED {
                return;
            }
            // Before the state: whoever sees it open sees when.
            self.opened_at.store(now(), Release);
            match self.word.compare_exchange(
                bits,
                Word { state: OPEN, ..w }.bits(),
                AcqRel,
                Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => bits = actual,
            }
        }
        self.trips.fetch_add(1, Relaxed);
        self.consecutive.store(0, Relaxed);
    }

    /// A probe ended.
    #[cold]
    #[inline(never)]
    fn probe_ended(&self, outcome: Outcome, failed: bool) {
        let mut bits = self.word.load(Acquire);
        loop {
            let w = Word::of(bits);
            let flight = w.flight.saturating_sub(1);
            let (next, tripped, closed) = if w.state != HALF_OPEN {
                // Its episode is over (another probe failed, or the host changed it).
                (Word { flight, ..w }, false, false)
            } else if failed {
                (
                    Word {
                        state: OPEN,
                        left: 0,
                        flight,
                        ok: 0,
                    },
                    true,
                    false,
                )
            } else if outcome == Outcome::Cancelled {
                // Its place goes to the next call.
                (
                    Word {
                        left: w.left + 1,
                        flight,
                        ..w
                    },
                    false,
                    false,
                )
            } else if w.ok + 1 >= u64::from(self.probes.load(Relaxed)) && w.left == 0 {
                // Every probe succeeded; probes of an earlier episode may still be out.
                (
                    Word {
                        state: CLOSED,
                        left: 0,
                        flight,
                        ok: 0,
                    },
                    false,
                    true,
                )
            } else {
                (
                    Word {
                        flight,
                        ok: w.ok + 1,
                        ..w
                    },
                    false,
                    false,
                )
            };
            if tripped {
                self.opened_at.store(now(), Release);
            }
            match self
                .word
                .compare_exchange(bits, next.bits(), AcqRel, Acquire)
            {
                Ok(_) => {
                    if tripped {
                        self.trips.fetch_add(1, Relaxed);
                    }
                    if closed {
                        self.consecutive.store(0, Relaxed);
                        // A new window begins when the ratio rule next sees a failure.
                        if let Ok(mut window) = self.window.lock() {
                            window.began = 0;
                        }
                    }
                    return;
                }
                Err(actual) => bits = actual,
            }
        }
    }
}

impl Word {
    fn with_state(self, state: u64) -> Word {
        Word { state, ..self }
    }
}

// ---------------------------------------------------------------------------------------
// The host's settings.
// ---------------------------------------------------------------------------------------

/// The host's breaker settings for one plugin (in its
/// [`PluginCells`](crate::core::plugin_cells::PluginCells)): for the plugin, and per
/// instance slot.
#[derive(Debug, Default)]
pub(crate) struct PluginBreakers(Mutex<HostSettings>);

#[derive(Debug, Default)]
struct HostSettings {
    plugin: Option<BreakerOverride>,
    instances: Vec<(usize, BreakerOverride)>,
}

impl PluginBreakers {
    fn lock(&self) -> std::sync::MutexGuard<'_, HostSettings> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the plugin's breakers.
    pub(crate) fn set_plugin(&self, settings: BreakerOverride) {
        self.lock().plugin = Some(settings);
    }

    /// Sets instance `slot`'s breakers.
    pub(crate) fn set_instance(&self, slot: usize, settings: BreakerOverride) {
        crate::core::running::outside(|| {
            let mut host = self.lock();
            host.instances.retain(|(s, _)| *s != slot);
            host.instances.push((slot, settings));
        });
    }

    /// The settings of an operation declaring `code` on instance `slot`: the code's, with
    /// the plugin's override then the instance's applied (`None` when the code declares no
    /// breaker: the host cannot add one, since a rejection must convert to the
    /// operation's error; `Some(None)` when the host turned it off).
    pub(crate) fn effective(
        &self,
        slot: usize,
        code: Option<BreakerSettings>,
    ) -> Option<Option<BreakerSettings>> {
        let code = code?;
        let host = self.lock();
        let mut settings = Some(code);
        for o in host.plugin.iter().chain(
            host.instances
                .iter()
                .filter(|(s, _)| *s == slot)
                .map(|(_, o)| o),
        ) {
            settings = if o.off {
                None
            } else {
                o.apply(settings.unwrap_or(code))
            };
        }
        Some(settings)
    }
}

// ---------------------------------------------------------------------------------------
// Time.
// ---------------------------------------------------------------------------------------

static MANUAL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static MANUAL_NANOS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Nanoseconds on the breakers' clock: monotonic, or the manual clock's.
pub(crate) fn now() -> u64 {
    if MANUAL.load(std::sync::atomic::Ordering::Relaxed) {
        return MANUAL_NANOS.load(std::sync::atomic::Ordering::Acquire);
    }
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    // Starts at one hour, so that "opened at 0" is long ago.
    nanos(EPOCH.get_or_init(std::time::Instant::now).elapsed()) + 3_600_000_000_000
}

/// The breakers' clock, moved by hand: every breaker in the process reads it from
/// [`ManualClock::install`] on, so a test can trip a breaker, wait out its `open_for` and
/// probe it without sleeping.
///
/// ```
/// use std::time::Duration;
/// let clock = plugobs_runtime::breaker::ManualClock::install();
/// clock.advance(Duration::from_secs(30));
/// ```
#[derive(Debug)]
pub struct ManualClock(());

impl ManualClock {
    /// Makes every breaker read the manual clock from now on (process-wide; for tests),
    /// starting an hour past its zero.
    pub fn install() -> ManualClock {
        if !MANUAL.swap(true, std::sync::atomic::Ordering::AcqRel) {
            MANUAL_NANOS.store(3_600_000_000_000, std::sync::atomic::Ordering::Release);
        }
        ManualClock(())
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        MANUAL_NANOS.fetch_add(nanos(by), std::sync::atomic::Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(std::sync::atomic::AtomicU64, std::sync::atomic::AtomicU64);
    impl Counts for Fixed {
        fn decided(&self) -> (u64, u64) {
            (
                self.0.load(std::sync::atomic::Ordering::Relaxed),
                self.1.load(std::sync::atomic::Ordering::Relaxed),
            )
        }
    }

    #[test]
    fn the_word_round_trips() {
        let w = Word {
            state: HALF_OPEN,
            left: 3,
            flight: 2,
            ok: 1,
        };
        assert_eq!(Word::of(w.bits()), w);
        assert_eq!(Word::of(0).state, CLOSED);
    }

    #[test]
    fn consecutive_failures_trip_it_and_probes_close_it() {
        let _clock = ManualClock::install();
        let b = Breaker::new(Some(BreakerSettings {
            trip: Trip::Consecutive(3),
            open_for: Duration::from_secs(5),
            probes: 2,
        }));
        let counts = Fixed(Default::default(), Default::default());
        for _ in 0..2 {
            assert_eq!(b.admit(), Admit::Pass);
            b.ended(Outcome::Error("x"), false, &counts);
        }
        // A success resets the count.
        b.ended(Outcome::Ok, false, &counts);
        for _ in 0..3 {
            assert_eq!(b.admit(), Admit::Pass);
            b.ended(Outcome::Panic, false, &counts);
        }
        assert_eq!((b.state(), b.trips()), (BreakerState::Open, 1));
        assert_eq!(b.admit(), Admit::Reject(BreakerState::Open));
    }
}
