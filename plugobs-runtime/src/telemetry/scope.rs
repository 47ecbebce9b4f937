//! Work off the call path, counted for an instance: a [`Scope`] names one instance of a
//! plugin, and the code it runs — a closure, a thread's body, each poll of a future —
//! counts as that instance's work, as a call on it does.
//!
//! Inside an operation call, a lifecycle hook or a health check of an instance, plugobs
//! knows which instance runs. A plugin's own threads and tasks are another matter: they
//! run on their own, so their allocations, custom metrics and CPU time belong to nobody
//! unless the plugin says whose they are:
//!
//! `let scope = self.scope();` (with [`PluginExt`]) in one of the plugin's methods, then
//! `std::thread::spawn(move || scope.run(|| …))` for a thread, or
//! `task.attributed(self)` (with [`AttributeExt`]) for a future; the `plugobs` crate's
//! docs have a complete example.
//!
//! What counts for the instance while a scope runs: heap bytes allocated and freed (with
//! the [`Attributed`](crate::telemetry::alloc::Attributed) allocator), the plugin's own
//! metrics (`counter!`, `gauge!`, `histogram!`; another plugin's are that plugin's
//! default instance's), and with [`Scope::with_cpu`] the thread CPU time, exported as
//! `plugobs_plugin_cpu_seconds_total{operation="(background)"}`. Calls of instrumented
//! operations inside a scope are counted for the instance they are called on, as
//! anywhere; a scope does not change that.
//!
//! Cost: entering and leaving a scope is two thread-local writes (measured with the
//! `scope` benchmark: see the README); [`Scope::of`] looks the instance up in its
//! plugin's table (a lock and a short scan), so take the scope once, outside loops, and
//! move it (it is `Copy`, `Send` and `Sync`) where the work runs. With `with_cpu`, each
//! run or poll also reads the thread's CPU clock twice.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll};

use crate::core::bindings::key_of;
use crate::core::running::{self, Running};
use crate::plugin::traits::Plugin;

/// One instance of a plugin, to run work as its own: a closure ([`Scope::run`]), a
/// thread's body, each poll of a future ([`AttributeExt::attributed`]).
///
/// Inside an operation call, a lifecycle hook or a health check of an instance, plugobs
/// knows which instance runs. A plugin's own threads and tasks run on their own: while a
/// scope runs, their heap bytes (with the
/// [`Attributed`](crate::alloc::Attributed) allocator), the plugin's own metrics
/// (`counter!` and the like) and, with [`Scope::with_cpu`], their thread CPU time count
/// for the instance. Calls of instrumented operations inside a scope still count for the
/// instance they are called on. Entering and leaving a scope is two thread-local writes;
/// [`Scope::of`] looks the instance up in its plugin's table (a lock and a short scan),
/// so take the scope once and move it where the work runs.
///
/// `Copy`, `Send` and `Sync`: take it where the instance is known (in a call, a hook, or
/// from the instance's value with [`Scope::of`]) and move it to the thread or task that
/// does the work.
#[derive(Clone, Copy, Debug)]
pub struct Scope {
    running: &'static Running,
    cpu: bool,
}

impl Scope {
    /// The instance whose value `instance` is: the instance it was loaded as by name, or
    /// the plugin's default instance (a value the host built itself, or one loaded the
    /// default way).
    ///
    /// A value is bound to its instance once constructed, before its start hook runs: in
    /// the constructor itself, where the value is not yet at its final address, use
    /// [`Scope::current`] (the constructor runs as the instance's code).
    pub fn of<T: Plugin>(instance: &T) -> Scope {
        let table = &crate::core::plugin_cells::of(T::DESCRIPTOR).instances;
        Scope {
            running: table.running(table.slot_of(key_of(instance))),
            cpu: false,
        }
    }

    /// The instance whose code runs on this thread — inside an operation call, a hook, a
    /// health check or a scope — if any.
    pub fn current() -> Option<Scope> {
        running::current().map(|running| Scope {
            running,
            cpu: false,
        })
    }

    /// This scope, also counting the thread CPU time of what it runs (two reads of the
    /// thread's CPU clock per run or poll) for the instance, as
    /// `plugobs_plugin_cpu_seconds_total{operation="(background)"}`.
    #[must_use]
    pub fn with_cpu(self) -> Scope {
        Scope { cpu: true, ..self }
    }

    /// The plugin's name.
    pub fn plugin(&self) -> &'static str {
        self.running.descriptor.name
    }

    /// The plugin's kind.
    pub fn kind(&self) -> &'static str {
        self.running.descriptor.kind
    }

    /// The instance's name: its `instance` label (the plugin's name for its default
    /// instance).
    pub fn instance(&self) -> &'static str {
        self.running.name
    }

    /// Runs `f` as this instance's work, on this thread.
    pub fn run<R>(self, f: impl FnOnce() -> R) -> R {
        let _entered = self.enter();
        f()
    }

    /// Marks this thread as doing this instance's work until the guard is dropped. Guards
    /// of nested scopes must be dropped in the reverse order of their creation (as
    /// [`Scope::run`] does); the guard is not `Send`.
    pub fn enter(self) -> Entered {
        Entered {
            previous: running::enter_always(self.running),
            cpu: self.cpu.then(crate::core::cpu::thread_cpu_nanos).flatten(),
            running: self.running,
            _thread: std::marker::PhantomData,
        }
    }

    /// A span carrying the instance's identity (`plugin.name`, `plugin.kind`,
    /// `plugin.instance`), named `plugin.task`, at INFO: enter it on the instance's own
    /// threads, or attach it to its futures, so their events are the instance's.
    pub fn span(&self) -> tracing::Span {
        let d = self.running.descriptor;
        running::outside(|| {
            tracing::info_span!(
                "plugin.task",
                plugin.name = d.name,
                plugin.kind = d.kind,
                plugin.instance = self.running.name
            )
        })
    }
}

// A scope names an instance and adds to its atomic counters: nothing a panic can leave
// half-changed, so it can cross `catch_unwind` (its descriptor's erased factories would
// otherwise keep it from being `RefUnwindSafe`).
impl std::panic::UnwindSafe for Scope {}
impl std::panic::RefUnwindSafe for Scope {}

impl<T: Plugin> From<&T> for Scope {
    fn from(instance: &T) -> Scope {
        Scope::of(instance)
    }
}

/// A thread doing an instance's work: made by [`Scope::enter`], ends when dropped.
#[derive(Debug)]
#[must_use = "the scope ends when the guard is dropped"]
pub struct Entered {
    previous: running::Previous,
    running: &'static Running,
    /// The thread's CPU time when entered, with [`Scope::with_cpu`].
    cpu: Option<u64>,
    /// Not `Send`: it marks this thread.
    _thread: std::marker::PhantomData<*const ()>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        if let Some(start) = self.cpu
            && let Some(now) = crate::core::cpu::thread_cpu_nanos()
        {
            self.running
                .background_cpu
                .fetch_add(now.saturating_sub(start), Relaxed);
        }
        running::leave(self.previous);
    }
}

/// Runs `f` as the work of `scope`: an instance's value (`plugobs::attribute(self, || …)`)
/// or a [`Scope`].
pub fn attribute<R>(scope: impl Into<Scope>, f: impl FnOnce() -> R) -> R {
    scope.into().run(f)
}

pin_project_lite::pin_project! {
    /// A future each of whose polls runs as an instance's work: made by
    /// [`AttributeExt::attributed`].
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct AttributedFuture<F> {
        scope: Scope,
        #[pin]
        fut: F,
    }
}

impl<F: Future> Future for AttributedFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _entered = this.scope.enter();
        this.fut.poll(cx)
    }
}

/// Runs a future's polls as an instance's work: `fut.attributed(self)` in a method of the
/// plugin, or `fut.attributed(scope)` with a [`Scope`] (for a task spawned on a runtime).
pub trait AttributeExt: Future + Sized {
    /// This future, each of whose polls counts as the work of `scope`.
    fn attributed(self, scope: impl Into<Scope>) -> AttributedFuture<Self> {
        AttributedFuture {
            scope: scope.into(),
            fut: self,
        }
    }
}

impl<F: Future> AttributeExt for F {}

/// What a reference to a plugin's value can say of its instance: `self.span()`,
/// `self.scope()` in the plugin's methods. (For a reference, so that `Self::span()` —
/// [`Plugin::span`] — stays unambiguous.)
pub trait PluginExt: Sized {
    /// The instance this value is ([`Scope::of`]).
    fn scope(self) -> Scope;

    /// The instance's span ([`Scope::span`]): `plugin.task` with `plugin.name`,
    /// `plugin.kind` and `plugin.instance`.
    fn span(self) -> tracing::Span {
        self.scope().span()
    }
}

impl<T: Plugin> PluginExt for &T {
    fn scope(self) -> Scope {
        Scope::of(self)
    }
}
