//! Operations declared at run time: the same call site and call guard as an
//! `#[instrumented]` function, made once per declared operation instead of once per
//! function in the source.
//!
//! Declaring an operation leaks one [`OperationSite`] and one tracing callsite (its span's
//! name is the operation's, known only at run time), so a call through an
//! [`OperationHandle`] is what an instrumented call is: the span (one load and a compare
//! when no subscriber wants DEBUG), [`OperationSite::enter`], the body, and the end of the
//! call in place. What is leaked is bounded by the operations declared, which are capped
//! per plugin.

use std::future::Future;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

use tracing::callsite::{Callsite, DefaultCallsite, Identifier};
use tracing::field::{Empty, Value};
use tracing::level_filters::{LevelFilter, STATIC_MAX_LEVEL};
use tracing::subscriber::Interest;
use tracing::{Level, Metadata, Span};

use crate::core::call::operation_metadata;
use crate::core::site::{CallGuard, OperationSite, mark_span};
use crate::model::descriptor::PluginDescriptor;
use crate::model::outcome::{ErrorKind, Outcome};

/// The level of a run-time operation's span, as `#[instrumented]`'s default.
const LEVEL: Level = Level::DEBUG;

/// The span callsite of one run-time operation: its metadata, leaked with it, and the
/// interest subscribers registered in it.
struct RuntimeCallsite {
    meta: OnceLock<Metadata<'static>>,
    /// 0: never, 1: sometimes, 2: always (as `DefaultCallsite` keeps it).
    interest: AtomicU8,
}

static FALLBACK_CALLSITE: DefaultCallsite = DefaultCallsite::new(&FALLBACK_META);
static FALLBACK_META: Metadata<'static> = operation_metadata(
    "plugin.operation",
    module_path!(),
    LEVEL,
    file!(),
    line!(),
    &FALLBACK_CALLSITE,
);

impl Callsite for RuntimeCallsite {
    fn set_interest(&self, interest: Interest) {
        let value = if interest.is_never() {
            0
        } else if interest.is_always() {
            2
        } else {
            1
        };
        self.interest.store(value, Relaxed);
    }

    fn metadata(&self) -> &Metadata<'_> {
        // Set before the callsite is registered, so always there.
        self.meta.get().unwrap_or(&FALLBACK_META)
    }
}

/// One operation declared at run time: its call site, its plugin and its span's callsite.
#[derive(Debug)]
pub(crate) struct RuntimeOperation {
    site: &'static OperationSite,
    descriptor: &'static PluginDescriptor,
    callsite: &'static RuntimeCallsite,
}

impl std::fmt::Debug for RuntimeCallsite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeCallsite").finish_non_exhaustive()
    }
}

/// Makes the call site and the span callsite of the operation `operation` of the
/// run-time plugin `descriptor` (leaked: once per declared operation).
pub(crate) fn declare(
    descriptor: &'static PluginDescriptor,
    operation: &'static str,
) -> &'static RuntimeOperation {
    let location = descriptor.location;
    let site: &'static OperationSite = Box::leak(Box::new(OperationSite::with_options(
        operation,
        location,
        crate::model::objective::Objective::NONE,
        0,
    )));
    let callsite: &'static RuntimeCallsite = Box::leak(Box::new(RuntimeCallsite {
        meta: OnceLock::new(),
        interest: AtomicU8::new(1),
    }));
    let meta = Metadata::new(
        operation,
        "plugobs::runtime",
        LEVEL,
        Some(location.file),
        Some(location.line),
        Some("plugobs::runtime"),
        tracing::field::FieldSet::new(&crate::core::call::OPERATION_FIELDS, Identifier(callsite)),
        tracing::metadata::Kind::SPAN,
    );
    let _ = callsite.meta.set(meta);
    tracing::callsite::register(callsite);
    Box::leak(Box::new(RuntimeOperation {
        site,
        descriptor,
        callsite,
    }))
}

impl RuntimeOperation {
    /// The operation's name.
    pub(crate) fn name(&self) -> &'static str {
        self.callsite.metadata().name()
    }

    /// The span of one call on the receiver `key`, as [`operation_span`](crate::core::call::operation_span).
    #[inline(always)]
    fn span(&'static self, key: usize) -> Span {
        if !(LEVEL <= STATIC_MAX_LEVEL && LEVEL <= LevelFilter::current()) {
            return Span::none();
        }
        self.enabled_span(key)
    }

    #[inline(never)]
    fn enabled_span(&'static self, key: usize) -> Span {
        let Some(meta) = self.callsite.meta.get() else {
            return Span::none();
        };
        let enabled = match self.callsite.interest.load(Relaxed) {
            0 => false,
            2 => true,
            _ => tracing::dispatcher::get_default(|d| d.enabled(meta)),
        };
        if !enabled {
            return Span::none();
        }
        let fields = meta.fields();
        let mut names = fields.iter();
        let (Some(name), Some(kind), Some(instance), Some(error_type), Some(status)) = (
            names.next(),
            names.next(),
            names.next(),
            names.next(),
            names.next(),
        ) else {
            return Span::none();
        };
        let d = self.descriptor;
        let instance_name = self.site.instance_name(d, key);
        crate::core::running::outside(|| {
            Span::new(
                meta,
                &fields.value_set(&[
                    (&name, Some(&d.name as &dyn Value)),
                    (&kind, Some(&d.kind as &dyn Value)),
                    (&instance, Some(&instance_name as &dyn Value)),
                    (&error_type, Some(&Empty as &dyn Value)),
                    (&status, Some(&Empty as &dyn Value)),
                ]),
            )
        })
    }
}

/// A handle to one operation of a plugin registered at run time: records each call with
/// the semantics of an `#[instrumented]` method — counted by outcome (ok, error by
/// [`ErrorKind`], panic, cancelled), in flight while it runs, timed into the operation's
/// latency histogram, inside a span named after the operation with `plugin.name`,
/// `plugin.kind` and `plugin.instance` (at DEBUG), marked with `error.type` and
/// `otel.status_code = "ERROR"` on an error.
///
/// Get one from [`RuntimePlugin::operation`](crate::RuntimePlugin::operation); it is
/// `Copy` and cheap to keep. Calls count under the plugin's default instance; [`on`](Self::on)
/// a [`Loaded`](crate::Loaded) instance's key, under that instance.
#[derive(Clone, Copy, Debug)]
pub struct OperationHandle {
    op: &'static RuntimeOperation,
    key: usize,
}

// A handle is a pointer to a site made of atomics and write-once cells: a panic in a call
// leaves nothing half-updated (the call is recorded as a panic), so it may cross
// `catch_unwind`, as an instrumented method's call does.
impl std::panic::UnwindSafe for OperationHandle {}
impl std::panic::RefUnwindSafe for OperationHandle {}

impl OperationHandle {
    pub(crate) fn new(op: &'static RuntimeOperation) -> Self {
        OperationHandle { op, key: 0 }
    }

    /// The operation's name.
    pub fn name(&self) -> &'static str {
        self.op.name()
    }

    /// The plugin's name.
    pub fn plugin(&self) -> &'static str {
        self.op.descriptor.name
    }

    /// This operation, its calls counted under the instance whose key is `key`
    /// ([`Loaded::key`](crate::Loaded::key)); a key no loaded instance has counts under
    /// the default instance.
    pub fn on(self, key: usize) -> Self {
        OperationHandle { key, ..self }
    }

    /// Runs `body` as one call of the operation; its result decides the outcome: `Ok`
    /// is ok, `Err(e)` an error of kind `e.error_kind()`. A panic in `body` is recorded
    /// as a panic and goes on unwinding.
    ///
    /// ```
    /// # let registry = plugobs_runtime::Registry::from_descriptors([]).unwrap();
    /// # let plugin = registry.register(plugobs_runtime::PluginSpec::new("doc_call", "enricher")).unwrap();
    /// let enrich = plugin.operation("enrich")?;
    /// let out: Result<u32, std::io::Error> = enrich.call(|| Ok(42));
    /// assert_eq!(out.unwrap(), 42);
    /// # Ok::<(), plugobs_runtime::RegistryError>(())
    /// ```
    #[inline]
    pub fn call<T, E: ErrorKind>(&self, body: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        self.call_with(body, |out| match out {
            Ok(_) => Outcome::Ok,
            Err(e) => Outcome::Error(e.error_kind()),
        })
    }

    /// Runs `body` as one call, its outcome given by `classify` from what it returned
    /// (an error kind should come from a small fixed set of `'static` strings).
    #[inline(always)]
    pub fn call_with<R>(
        &self,
        body: impl FnOnce() -> R,
        classify: impl FnOnce(&R) -> Outcome,
    ) -> R {
        let op = self.op;
        let span = op.span(self.key);
        let guard = op.site.enter(op.descriptor, self.key);
        let out = {
            let _entered = span.enter();
            body()
        };
        let outcome = classify(&out);
        guard.end_in_place(outcome);
        std::mem::forget(guard);
        mark_span(&span, outcome);
        out
    }

    /// Starts a call whose outcome the caller gives: [`RuntimeCall::finish`]. Dropped
    /// unfinished, the call counts as a panic while unwinding, else as cancelled.
    #[inline]
    pub fn enter(&self) -> RuntimeCall {
        let op = self.op;
        let span = op.span(self.key);
        RuntimeCall {
            guard: op.site.enter(op.descriptor, self.key),
            span,
        }
    }

    /// Wraps the future `fut` as one call, as an instrumented `async fn` is one: the call
    /// starts when the returned future is first polled and ends when `fut` completes (its
    /// output deciding the outcome as in [`call`](Self::call)), panics in a poll (a
    /// panic), or is dropped first (cancelled; a future dropped before its first poll
    /// never started, so it is not counted). Each poll runs inside the call's span.
    ///
    /// ```
    /// # let registry = plugobs_runtime::Registry::from_descriptors([]).unwrap();
    /// # let plugin = registry.register(plugobs_runtime::PluginSpec::new("doc_async", "source")).unwrap();
    /// let fetch = plugin.operation("fetch")?;
    /// let out = plugobs_runtime::block_on(fetch.call_async(async { Ok::<_, std::io::Error>(3) }));
    /// assert_eq!(out.unwrap(), 3);
    /// # Ok::<(), plugobs_runtime::RegistryError>(())
    /// ```
    #[inline]
    pub fn call_async<T, E, F>(&self, fut: F) -> impl Future<Output = Result<T, E>> + use<T, E, F>
    where
        E: ErrorKind,
        F: Future<Output = Result<T, E>>,
    {
        let OperationHandle { op, key } = *self;
        async move {
            let span = op.span(key);
            op.site
                .enter_async(
                    op.descriptor,
                    key,
                    span,
                    fut,
                    |_span, out: &Result<T, E>| match out {
                        Ok(_) => Outcome::Ok,
                        Err(e) => Outcome::Error(e.error_kind()),
                    },
                )
                .await
        }
    }
}

/// One call of a run-time operation in progress on this thread, from
/// [`OperationHandle::enter`]. End it with [`finish`](Self::finish).
#[must_use = "a call records its outcome when finished, or counts as cancelled when dropped"]
#[derive(Debug)]
pub struct RuntimeCall {
    guard: CallGuard,
    span: Span,
}

impl RuntimeCall {
    /// The call's span (disabled when no subscriber wants it), to enter around its work.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Ends the call with `outcome`.
    pub fn finish(self, outcome: Outcome) {
        let RuntimeCall { guard, span } = self;
        guard.finish(outcome);
        mark_span(&span, outcome);
    }
}
