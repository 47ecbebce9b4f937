//! [`HealthMonitor`]: rounds of health checks on an interval, on a thread of its own (no
//! async runtime needed), with failure and recovery thresholds, and subscribers told of
//! every status change.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use crate::health::check::{CheckOptions, HealthReport};
use crate::health::clock::{Clock, SystemClock};
use crate::model::health::{Health, HealthStatus};
use crate::registry::Registry;

/// A status change, as subscribers of [`HealthMonitor::on_change`] receive it.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct HealthChange {
    /// The plugin's name.
    pub plugin: &'static str,
    /// The instance's name (the plugin's name for its default instance).
    pub instance: &'static str,
    /// Its kind.
    pub kind: &'static str,
    /// The status it reported before.
    pub from: HealthStatus,
    /// The status it reports now.
    pub to: HealthStatus,
    /// Its health now, with message and details.
    pub health: Health,
    /// When the change was seen.
    #[cfg_attr(
        feature = "serde",
        serde(with = "crate::model::fmt::serde::unix_seconds")
    )]
    pub at: SystemTime,
}

type Subscriber = Arc<dyn Fn(&HealthChange) + Send + Sync>;

/// The monitor thread's name: Linux keeps 15 bytes of a thread's name.
const MONITOR_THREAD: &str = "plugobs-monitor";
const _: () = assert!(MONITOR_THREAD.len() <= 15);

/// Configures a [`HealthMonitor`].
pub struct HealthMonitorBuilder {
    interval: Duration,
    options: CheckOptions,
    clock: Arc<dyn Clock>,
    subscribers: Vec<Subscriber>,
}

impl std::fmt::Debug for HealthMonitorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthMonitorBuilder")
            .field("interval", &self.interval)
            .field("options", &self.options)
            .field("subscribers", &self.subscribers.len())
            .finish_non_exhaustive()
    }
}

impl Default for HealthMonitorBuilder {
    fn default() -> Self {
        HealthMonitorBuilder {
            interval: Duration::from_secs(10),
            options: CheckOptions {
                timeout: Duration::from_secs(2),
                failure_threshold: 3,
                recovery_threshold: 2,
            },
            clock: Arc::new(SystemClock),
            subscribers: Vec::new(),
        }
    }
}

impl HealthMonitorBuilder {
    /// Time between the starts of two rounds. Default 10 s.
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(1));
        self
    }

    /// How long one hook may run. Default 2 s; never more than four fifths of the
    /// interval, so a round waiting for a hung hook ends before the next one is due.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = timeout;
        self
    }

    /// Consecutive unhealthy results before a plugin is reported unhealthy. Default 3.
    #[must_use]
    pub fn failure_threshold(mut self, n: u32) -> Self {
        self.options.failure_threshold = n.max(1);
        self
    }

    /// Consecutive better results before an unhealthy or degraded plugin is reported
    /// better. Default 2.
    #[must_use]
    pub fn recovery_threshold(mut self, n: u32) -> Self {
        self.options.recovery_threshold = n.max(1);
        self
    }

    /// The clock the health policy's window and the rounds' durations (hence overruns)
    /// are measured with. Default the system's; the hooks' timeouts and the interval
    /// between rounds are always real time.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Calls `subscriber` with every status change, from the first round on: registered
    /// before the monitor starts, so no change is missed. See
    /// [`HealthMonitor::on_change`].
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let changes = Arc::new(AtomicUsize::new(0));
    /// let seen = Arc::clone(&changes);
    /// let monitor = plugobs_runtime::HealthMonitor::builder()
    ///     .on_change(move |_| {
    ///         seen.fetch_add(1, Ordering::Relaxed);
    ///     })
    ///     .manual(plugobs_runtime::registry());
    /// monitor.tick();
    /// ```
    #[must_use]
    pub fn on_change(mut self, subscriber: impl Fn(&HealthChange) + Send + Sync + 'static) -> Self {
        self.subscribers.push(Arc::new(subscriber));
        self
    }

    fn core(mut self, registry: &'static Registry) -> Arc<Core> {
        // A round waits for a hung hook until its timeout from its start: with a margin
        // below the interval, a round ends before the next is due.
        self.options.timeout = self.options.timeout.min(self.interval * 4 / 5);
        Arc::new(Core {
            registry,
            interval: self.interval,
            options: self.options,
            clock: self.clock,
            subscribers: Mutex::new(self.subscribers),
            stop: AtomicBool::new(false),
            wake: Mutex::new(()),
            woken: Condvar::new(),
            exited: Mutex::new(false),
            exit: Condvar::new(),
            rounds: AtomicU64::new(0),
            overran: AtomicU64::new(0),
        })
    }

    /// Starts the monitor on its own thread, `plugobs-monitor`: a round right away,
    /// then one every interval.
    ///
    /// # Errors
    /// The OS refused to start the thread.
    pub fn start(self, registry: &'static Registry) -> std::io::Result<HealthMonitor> {
        let core = self.core(registry);
        let running = Arc::clone(&core);
        std::thread::Builder::new()
            .name(MONITOR_THREAD.to_owned())
            .spawn(move || running.run())?;
        Ok(HealthMonitor {
            core,
            threaded: true,
        })
    }

    /// A monitor without a thread: rounds run when [`HealthMonitor::tick`] is called.
    /// For tests, and hosts that schedule rounds themselves.
    pub fn manual(self, registry: &'static Registry) -> HealthMonitor {
        HealthMonitor {
            core: self.core(registry),
            threaded: false,
        }
    }
}

/// Runs health rounds on an interval, on its own thread; stops within one interval when
/// dropped.
///
/// Each round is [`Registry::check_health_with`] with the monitor's timeout and
/// thresholds: a plugin turns unhealthy after `failure_threshold` consecutive unhealthy
/// results and comes back after `recovery_threshold` better ones. Subscribers
/// ([`on_change`](HealthMonitor::on_change)) receive every change of a plugin's reported
/// status, on the monitor's thread; a subscriber that panics is logged and the others
/// still receive the change.
///
/// ```
/// use std::time::Duration;
/// use plugobs_runtime::HealthMonitor;
///
/// let monitor = HealthMonitor::builder()
///     .interval(Duration::from_secs(5))
///     .timeout(Duration::from_secs(1))
///     .failure_threshold(3)
///     .recovery_threshold(2)
///     .start(plugobs_runtime::registry())
///     .unwrap();
/// monitor.on_change(|change| eprintln!("{} is now {}", change.plugin, change.to));
/// drop(monitor); // the thread stops within one interval
/// ```
pub struct HealthMonitor {
    core: Arc<Core>,
    threaded: bool,
}

impl std::fmt::Debug for HealthMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthMonitor")
            .field("interval", &self.core.interval)
            .field("options", &self.core.options)
            .field("rounds", &self.rounds())
            .finish_non_exhaustive()
    }
}

struct Core {
    registry: &'static Registry,
    interval: Duration,
    options: CheckOptions,
    clock: Arc<dyn Clock>,
    subscribers: Mutex<Vec<Subscriber>>,
    stop: AtomicBool,
    wake: Mutex<()>,
    woken: Condvar,
    exited: Mutex<bool>,
    exit: Condvar,
    rounds: AtomicU64,
    /// Rounds that took longer than the interval.
    overran: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Core {
    fn run(&self) {
        let mut next = Instant::now();
        while !self.stop.load(Ordering::Acquire) {
            let began = Instant::now();
            self.tick(Some(&self.stop));
            next = (next + self.interval).max(began);
            let mut guard = lock(&self.wake);
            while !self.stop.load(Ordering::Acquire) {
                let now = Instant::now();
                if now >= next {
                    break;
                }
                guard = self
                    .woken
                    .wait_timeout(guard, next - now)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
        }
        *lock(&self.exited) = true;
        self.exit.notify_all();
    }

    fn tick(&self, cancel: Option<&AtomicBool>) -> HealthReport {
        // Timed by the monitor's clock, so a test's manual clock decides overruns.
        let began = self.clock.now();
        let report = self.registry.round(&self.options, began, cancel);
        if cancel.is_some_and(|c| c.load(Ordering::Acquire)) {
            // Stopped mid-round: the round recorded nothing, and does not count.
            return report;
        }
        let took = self.clock.now().saturating_duration_since(began);
        self.registry
            .health_rounds
            .record(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
        if took > self.interval {
            self.overran.fetch_add(1, Ordering::Relaxed);
            self.registry
                .health_overruns
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                round.duration_seconds = took.as_secs_f64(),
                interval_seconds = self.interval.as_secs_f64(),
                "a health round took longer than the monitor's interval"
            );
        }
        self.rounds.fetch_add(1, Ordering::Relaxed);
        let subscribers: Vec<Subscriber> = lock(&self.subscribers).clone();
        if subscribers.is_empty() {
            return report;
        }
        let at = SystemTime::now();
        for check in report.checks.iter().filter(|c| c.previous != c.status) {
            let health = self
                .registry
                .instance(check.instance)
                .map(|r| r.health_state().lock().reported.clone())
                .unwrap_or_else(|| check.result.clone());
            let change = HealthChange {
                plugin: check.plugin,
                instance: check.instance,
                kind: check.kind,
                from: check.previous,
                to: check.status,
                health,
                at,
            };
            for subscriber in &subscribers {
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| subscriber(&change))) {
                    let message = crate::model::error::HookError::from_panic(&*payload);
                    tracing::error!(
                        plugin.name = check.plugin,
                        error.message = message.message(),
                        "a health change subscriber panicked"
                    );
                }
            }
        }
        report
    }
}

impl HealthMonitor {
    /// A builder with the defaults: every 10 s, timeout 2 s, unhealthy after 3 failed
    /// rounds, healthy again after 2 good ones.
    pub fn builder() -> HealthMonitorBuilder {
        HealthMonitorBuilder::default()
    }

    /// Calls `subscriber` with every status change from now on. A round may already have
    /// run on a started monitor: to miss no change, register with
    /// [`HealthMonitorBuilder::on_change`] before starting it.
    pub fn on_change(&self, subscriber: impl Fn(&HealthChange) + Send + Sync + 'static) {
        lock(&self.core.subscribers).push(Arc::new(subscriber));
    }

    /// Runs one round now, on this thread, and tells the subscribers of the changes.
    pub fn tick(&self) -> HealthReport {
        self.core.tick(None)
    }

    /// Rounds run so far (a round cancelled by a stop does not count). Each is timed
    /// in `plugobs_health_round_duration_seconds`.
    pub fn rounds(&self) -> u64 {
        self.core.rounds.load(Ordering::Relaxed)
    }

    /// Rounds that took longer than the interval (each also logged as a WARN event).
    pub fn overran_rounds(&self) -> u64 {
        self.core.overran.load(Ordering::Relaxed)
    }

    /// The interval between rounds.
    pub fn interval(&self) -> Duration {
        self.core.interval
    }
}

impl Drop for HealthMonitor {
    /// Stops the thread (see [`HealthMonitor::stop`]).
    fn drop(&mut self) {
        self.halt();
    }
}

impl HealthMonitor {
    /// Stops the thread: a round in progress stops waiting for its hooks, and the thread
    /// exits. Waits for that at most one interval; returns whether it exited (always
    /// true for a manual monitor). Dropping the monitor does the same.
    pub fn stop(mut self) -> bool {
        self.halt()
    }

    fn halt(&mut self) -> bool {
        if !self.threaded {
            return true;
        }
        self.threaded = false;
        self.core.stop.store(true, Ordering::Release);
        {
            let _guard = lock(&self.core.wake);
            self.core.woken.notify_all();
        }
        let deadline = Instant::now() + self.core.interval;
        let mut exited = lock(&self.core.exited);
        while !*exited {
            let now = Instant::now();
            if now >= deadline {
                tracing::warn!(
                    "the plugobs health monitor did not stop within one interval (a subscriber may be blocked); it stops after its current step"
                );
                return false;
            }
            exited = self
                .core
                .exit
                .wait_timeout(exited, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        true
    }
}
