//! Blocking lifecycle methods inside a tokio runtime (feature `tokio`): refused with a
//! typed error in a current-thread runtime instead of hanging, driven in `block_in_place`
//! in a multi-thread one. Every test runs under a deadline, so a regression fails instead
//! of hanging CI.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};
use std::task::{Context, Poll};
use std::thread::ThreadId;
use std::time::Duration;

use plugobs::{FailureReason, Plugin, PluginState, Registry, Stage};

pub trait Napper: Send + Sync {
    fn napped(&self) -> bool;
}

/// Its start and stop hooks need tokio's timer.
#[plugobs::plugin(kind = "napper", provides = dyn Napper, start = Self::nap, stop = Self::wake)]
#[derive(Default)]
pub struct TimerNapper {
    napped: bool,
}
impl TimerNapper {
    async fn nap(&mut self) {
        tokio::time::sleep(Duration::from_millis(5)).await;
        self.napped = true;
    }
    async fn wake(&mut self) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
impl Napper for TimerNapper {
    fn napped(&self) -> bool {
        self.napped
    }
}

/// Plain sync hooks.
#[plugobs::plugin(kind = "napper", provides = dyn Napper, start = Self::open, stop = Self::close)]
#[derive(Default)]
pub struct SyncNapper;
impl SyncNapper {
    fn open(&mut self) {}
    fn close(&mut self) {}
}
impl Napper for SyncNapper {
    fn napped(&self) -> bool {
        false
    }
}

/// Pending on its first poll (after waking its task), ready on the second: an async hook
/// awaiting it finishes only if something polls it again after the wake-up. Needs no
/// runtime's reactor, so a blocking call outside any runtime can drive it.
struct YieldOnce {
    yielded: bool,
    polls: &'static AtomicUsize,
}
impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        if self.yielded {
            Poll::Ready(())
        } else {
            self.yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

static YIELDING_START_POLLS: AtomicUsize = AtomicUsize::new(0);
static YIELDING_STOP_POLLS: AtomicUsize = AtomicUsize::new(0);
/// The threads the start and stop hooks ran on.
static YIELDING_THREADS: Mutex<Vec<ThreadId>> = Mutex::new(Vec::new());

/// Async start and stop hooks that yield once and need no runtime.
#[plugobs::plugin(kind = "napper", provides = dyn Napper, start = Self::nap, stop = Self::wake)]
#[derive(Default)]
pub struct YieldingNapper {
    napped: bool,
}
impl YieldingNapper {
    async fn nap(&mut self) {
        YieldOnce {
            yielded: false,
            polls: &YIELDING_START_POLLS,
        }
        .await;
        YIELDING_THREADS
            .lock()
            .unwrap()
            .push(std::thread::current().id());
        self.napped = true;
    }
    async fn wake(&mut self) {
        YieldOnce {
            yielded: false,
            polls: &YIELDING_STOP_POLLS,
        }
        .await;
        YIELDING_THREADS
            .lock()
            .unwrap()
            .push(std::thread::current().id());
    }
}
impl Napper for YieldingNapper {
    fn napped(&self) -> bool {
        self.napped
    }
}

const REFUSED: &str = "the hook is async and this thread runs a current-thread tokio runtime, \
                       which cannot drive it while a blocking plugobs call waits (it would \
                       hang); await the `_async` method instead (`load_async`, \
                       `load_all_async`, `stop_async`), or use a multi-thread runtime";

/// Runs `f` on its own thread and fails the test if it takes longer than `limit`.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(value) => value,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("still blocked after {limit:?}: hung"),
        Err(mpsc::RecvTimeoutError::Disconnected) => match thread.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the thread ended without sending"),
        },
    }
}

fn leaked<P: Plugin>() -> &'static Registry {
    Box::leak(Box::new(
        Registry::from_descriptors([P::DESCRIPTOR]).unwrap(),
    ))
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn blocking_load_all_in_a_current_thread_runtime_is_refused_not_hung() {
    let registry = leaked::<TimerNapper>();
    within(Duration::from_secs(30), move || {
        current_thread().block_on(async {
            let report = registry.load_all::<dyn Napper>();
            assert_eq!(report.loaded.len(), 0);
            assert_eq!(report.failures.len(), 1);
            let failure = &report.failures[0];
            assert_eq!(failure.plugin, "timer_napper");
            assert_eq!(failure.stage, Stage::Start);
            assert!(failure.error.is_blocked_runtime());
            assert_eq!(failure.error.reason(), FailureReason::Cancelled);
            assert_eq!(failure.error.error_type(), "blocked_runtime");
            assert_eq!(failure.error.message(), REFUSED);
            assert_eq!(
                failure.to_string(),
                format!("plugin `timer_napper` failed to start: {REFUSED}")
            );
        })
    });
    let record = registry.get("timer_napper").unwrap();
    assert_eq!(record.state(), PluginState::Failed);
    assert_eq!(record.failures(Stage::Start, FailureReason::Cancelled), 1);
    assert_eq!(record.live_instances(), 0);
}

#[test]
fn blocking_load_and_stop_in_a_current_thread_runtime_are_refused_not_hung() {
    let registry = leaked::<TimerNapper>();
    within(Duration::from_secs(30), move || {
        current_thread().block_on(async {
            let err = registry.load::<dyn Napper>("timer_napper").unwrap_err();
            let plugobs::LoadError::Lifecycle(err) = err else {
                panic!("{err:?}")
            };
            assert!(err.error.is_blocked_runtime());

            // Awaited on the runtime, the same hooks run; a blocking stop is refused.
            let loaded = registry
                .load_async::<dyn Napper>("timer_napper")
                .await
                .unwrap();
            assert!(loaded.napped());
            let err = loaded.stop().unwrap_err();
            assert_eq!(err.stage, Stage::Stop);
            assert!(err.error.is_blocked_runtime());
            assert_eq!(err.error.message(), REFUSED);

            let loaded = registry
                .load_async::<dyn Napper>("timer_napper")
                .await
                .unwrap();
            loaded.stop_async().await.unwrap();

            let report = registry.load_all_async::<dyn Napper>().await;
            assert_eq!(report.loaded.len(), 1);
            assert!(report.stop_all_async().await.is_empty());
        })
    });
    let record = registry.get("timer_napper").unwrap();
    assert_eq!(record.state(), PluginState::Stopped);
    assert_eq!(record.failures(Stage::Start, FailureReason::Cancelled), 1);
    assert_eq!(record.failures(Stage::Stop, FailureReason::Cancelled), 1);
}

#[test]
fn sync_hooks_still_run_from_a_blocking_call_in_a_current_thread_runtime() {
    let registry = leaked::<SyncNapper>();
    within(Duration::from_secs(30), move || {
        current_thread().block_on(async {
            let report = registry.load_all::<dyn Napper>();
            assert!(report.is_complete());
            assert_eq!(report.loaded.len(), 1);
            assert!(report.stop_all().is_empty());
        })
    });
    assert_eq!(
        registry.get("sync_napper").unwrap().state(),
        PluginState::Stopped
    );
}

#[test]
fn blocking_load_all_on_a_multi_thread_worker_runs_the_timer_hook() {
    let registry = leaked::<TimerNapper>();
    within(Duration::from_secs(30), move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            // On the runtime's only worker thread.
            let report = tokio::spawn(async move {
                let report = registry.load_all::<dyn Napper>();
                assert!(report.is_complete(), "{:?}", report.failures);
                assert!(report.loaded[0].napped());
                report.stop_all()
            })
            .await
            .unwrap();
            assert!(report.is_empty(), "{report:?}");
        })
    });
    let record = registry.get("timer_napper").unwrap();
    assert_eq!(record.state(), PluginState::Stopped);
    assert_eq!(record.total_failures(), 0);
}

#[test]
fn blocking_load_all_outside_any_runtime_drives_the_hook_here() {
    let registry = leaked::<YieldingNapper>();
    let record = registry.get("yielding_napper").unwrap();
    let caller = within(Duration::from_secs(30), move || {
        assert!(
            tokio::runtime::Handle::try_current().is_err(),
            "no runtime here"
        );
        let report = registry.load_all::<dyn Napper>();
        assert_eq!(report.loaded.len(), 1);
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        assert!(report.is_complete());
        // The start hook ran to its end: polled, woken, polled again, on this thread.
        assert!(report.loaded[0].napped());
        assert_eq!(YIELDING_START_POLLS.load(Ordering::SeqCst), 2);
        assert_eq!(record.state(), PluginState::Running);
        assert_eq!(record.live_instances(), 1);
        assert_eq!(YIELDING_STOP_POLLS.load(Ordering::SeqCst), 0);

        let failures = report.stop_all();
        assert!(failures.is_empty(), "{failures:?}");
        assert_eq!(YIELDING_STOP_POLLS.load(Ordering::SeqCst), 2);
        std::thread::current().id()
    });
    assert_eq!(*YIELDING_THREADS.lock().unwrap(), [caller, caller]);
    assert_eq!(record.state(), PluginState::Stopped);
    assert_eq!(record.live_instances(), 0);
    assert_eq!(record.total_failures(), 0);
}

#[test]
fn the_async_methods_can_be_spawned_on_a_multi_thread_runtime() {
    let registry = leaked::<TimerNapper>();
    within(Duration::from_secs(30), move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let loaded = tokio::spawn(registry.load_async::<dyn Napper>("timer_napper"))
                .await
                .unwrap()
                .unwrap();
            assert!(loaded.napped());
            let report = tokio::spawn(registry.load_all_async::<dyn Napper>())
                .await
                .unwrap();
            assert_eq!(report.loaded.len(), 1);
            tokio::spawn(loaded.stop_async()).await.unwrap().unwrap();
            for l in report.loaded {
                tokio::spawn(l.stop_async()).await.unwrap().unwrap();
            }
        })
    });
    assert_eq!(
        registry.get("timer_napper").unwrap().state(),
        PluginState::Stopped
    );
}
