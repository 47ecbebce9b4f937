//! The connections of the standalone server, watched: each one's state (requests in
//! flight, a write that makes no progress, when it last did something, when the head of
//! its next request began), its IO with a write timeout ([`WatchedIo`]), its response
//! bodies that mark the end of a request ([`TrackedBody`]), and the registry of open
//! connections ([`Connections`]) that names the one idle longest when the cap is reached.
//!
//! Nothing here knows of hyper's connection or of the routes: the server (`serve.rs`)
//! reads a connection's [`Verdict`] and acts on it.

use std::collections::HashMap;
use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::{Body, Bytes};
use hyper::body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

/// The open connections of one server. A connection registers when it is accepted and
/// leaves when its [`ConnectionState`] is dropped.
#[derive(Debug)]
pub(crate) struct Connections {
    epoch: Instant,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<ConnectionState>>>,
    /// Connections asked to close and not closed yet.
    evicting: AtomicUsize,
    /// Notified when a connection becomes idle (or opens, idle).
    became_idle: Notify,
}

impl Connections {
    pub(crate) fn new() -> Arc<Connections> {
        Arc::new(Connections {
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
            evicting: AtomicUsize::new(0),
            became_idle: Notify::new(),
        })
    }

    fn open(&self) -> MutexGuard<'_, HashMap<u64, Arc<ConnectionState>>> {
        // Nothing panics while holding the lock; should it ever, the map is still sound.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Microseconds since the registry was made (0 is never a time: it means "none").
    fn now(&self) -> u64 {
        let micros = self.epoch.elapsed().as_micros();
        u64::try_from(micros).unwrap_or(u64::MAX).saturating_add(1)
    }

    fn instant(&self, micros: u64) -> Instant {
        self.epoch + Duration::from_micros(micros.saturating_sub(1))
    }

    /// Registers a connection just accepted: idle from now, no request yet. It stays
    /// registered until the [`Registered`] is dropped.
    pub(crate) fn register(self: &Arc<Self>) -> Registered {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(ConnectionState {
            id,
            registry: Arc::clone(self),
            in_flight: AtomicUsize::new(0),
            write_stalled: AtomicBool::new(false),
            active_at: AtomicU64::new(self.now()),
            head_started_at: AtomicU64::new(0),
            evicted: AtomicBool::new(false),
            wake: Notify::new(),
        });
        self.open().insert(id, Arc::clone(&state));
        self.became_idle.notify_one();
        Registered(state)
    }

    fn unregister(&self, state: &ConnectionState) {
        self.open().remove(&state.id);
        if state.evicted.load(Ordering::Acquire) {
            self.evicting.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Asks the connection idle longest to close, unless one asked before is still
    /// closing. Returns whether one was asked (now or before).
    pub(crate) fn evict_longest_idle(&self) -> bool {
        if self.evicting.load(Ordering::Acquire) > 0 {
            return true;
        }
        let victim = self
            .open()
            .values()
            .filter(|c| c.is_idle() && !c.evicted.load(Ordering::Acquire))
            .min_by_key(|c| c.active_at.load(Ordering::Acquire))
            .cloned();
        let Some(victim) = victim else {
            return false;
        };
        self.evicting.fetch_add(1, Ordering::AcqRel);
        victim.evicted.store(true, Ordering::Release);
        victim.wake.notify_one();
        true
    }

    /// Waits until some connection becomes idle (it may have been idle before).
    pub(crate) async fn some_became_idle(&self) {
        self.became_idle.notified().await;
    }
}

/// The timeouts a connection's [`Verdict`] applies.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnectionTimeouts {
    /// Idle (no request in flight, nothing left to write, no byte of a next request):
    /// closed after this long.
    pub(crate) idle: Duration,
    /// From the first byte of a request's head to its last.
    pub(crate) header_read: Duration,
}

/// What the server does with a connection now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Close it now: it is idle and asked to close or idle too long, or its request's
    /// head took too long.
    Close,
    /// Let the requests in progress finish, then close (hyper's graceful shutdown).
    Drain,
    /// Nothing to do before this instant (or before the state changes, when `None`).
    Wait(Option<Instant>),
}

/// One connection's state, shared by its IO, its service, its bodies and the server.
#[derive(Debug)]
pub(crate) struct ConnectionState {
    id: u64,
    registry: Arc<Connections>,
    in_flight: AtomicUsize,
    write_stalled: AtomicBool,
    /// When it last started or finished a request or wrote after a stall.
    active_at: AtomicU64,
    /// When the first byte of the next request arrived; 0 while none has.
    head_started_at: AtomicU64,
    evicted: AtomicBool,
    /// Notified when the state changes in a way that moves a deadline, and on eviction.
    wake: Notify,
}

impl ConnectionState {
    /// No request in flight and nothing left to write.
    fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0 && !self.write_stalled.load(Ordering::Acquire)
    }

    fn became_idle(&self) {
        self.active_at.store(self.registry.now(), Ordering::Release);
        self.wake.notify_one();
        self.registry.became_idle.notify_one();
    }

    /// A request's head was read: the connection is busy until the guard is dropped
    /// (the guard goes with the response body, dropped once the body is written).
    pub(crate) fn request_started(self: &Arc<Self>) -> RequestGuard {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_started_at.store(0, Ordering::Release);
        self.active_at.store(self.registry.now(), Ordering::Release);
        RequestGuard(Arc::clone(self))
    }

    fn bytes_read(&self) {
        if self.head_started_at.load(Ordering::Acquire) == 0 {
            self.head_started_at
                .store(self.registry.now(), Ordering::Release);
            self.wake.notify_one();
        }
    }

    fn write_stalled(&self) {
        self.write_stalled.store(true, Ordering::Release);
    }

    fn write_resumed(&self) {
        self.write_stalled.store(false, Ordering::Release);
        if self.in_flight.load(Ordering::Acquire) == 0 {
            self.became_idle();
        } else {
            self.active_at.store(self.registry.now(), Ordering::Release);
        }
    }

    /// What to do with the connection now; `stopping` when the server shuts down.
    pub(crate) fn verdict(&self, timeouts: &ConnectionTimeouts, stopping: bool) -> Verdict {
        let busy = !self.is_idle();
        if stopping || self.evicted.load(Ordering::Acquire) {
            return if busy { Verdict::Drain } else { Verdict::Close };
        }
        if busy {
            return Verdict::Wait(None);
        }
        let now = Instant::now();
        let deadline = match self.head_started_at.load(Ordering::Acquire) {
            0 => {
                self.registry
                    .instant(self.active_at.load(Ordering::Acquire))
                    + timeouts.idle
            }
            began => self.registry.instant(began) + timeouts.header_read,
        };
        if now >= deadline {
            Verdict::Close
        } else {
            Verdict::Wait(Some(deadline))
        }
    }

    /// Waits until the state changes or the connection is asked to close.
    pub(crate) async fn changed(&self) {
        self.wake.notified().await;
    }
}

/// A connection in the registry, until this is dropped.
#[derive(Debug)]
pub(crate) struct Registered(Arc<ConnectionState>);

impl Registered {
    pub(crate) fn state(&self) -> &Arc<ConnectionState> {
        &self.0
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.0.registry.unregister(&self.0);
    }
}

/// A request in progress on a connection; dropped when its response is written (or the
/// connection is gone).
#[derive(Debug)]
pub(crate) struct RequestGuard(Arc<ConnectionState>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let state = &self.0;
        state.head_started_at.store(0, Ordering::Release);
        if state.in_flight.fetch_sub(1, Ordering::AcqRel) == 1
            && !state.write_stalled.load(Ordering::Acquire)
        {
            state.became_idle();
        }
    }
}

/// A response body that holds its request's [`RequestGuard`] until hyper drops it.
#[derive(Debug)]
pub(crate) struct TrackedBody {
    inner: Body,
    _request: RequestGuard,
}

impl TrackedBody {
    pub(crate) fn new(inner: Body, request: RequestGuard) -> TrackedBody {
        TrackedBody {
            inner,
            _request: request,
        }
    }
}

impl hyper::body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A connection's IO: reads mark the start of a request's head, and a write that makes
/// no progress for the write timeout fails with [`io::ErrorKind::TimedOut`], which
/// makes hyper close the connection.
#[derive(Debug)]
pub(crate) struct WatchedIo<T> {
    inner: T,
    state: Arc<ConnectionState>,
    write_timeout: Duration,
    /// Armed while a write makes no progress; allocated on the first stall only.
    stall: Option<Pin<Box<Sleep>>>,
    stalled: bool,
}

impl<T> WatchedIo<T> {
    pub(crate) fn new(inner: T, state: Arc<ConnectionState>, write_timeout: Duration) -> Self {
        WatchedIo {
            inner,
            state,
            write_timeout,
            stall: None,
            stalled: false,
        }
    }

    fn progressed(&mut self) {
        if self.stalled {
            self.stalled = false;
            self.state.write_resumed();
        }
    }

    /// The inner write is pending: starts the clock if it is not running, and fails once
    /// it has run for the write timeout.
    fn pending<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        if !self.stalled {
            self.stalled = true;
            self.state.write_stalled();
            let deadline = Instant::now() + self.write_timeout;
            match &mut self.stall {
                Some(sleep) => sleep.as_mut().reset(deadline),
                None => self.stall = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
        }
        match &mut self.stall {
            Some(sleep) => {
                ready!(sleep.as_mut().poll(cx));
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client read nothing for the write timeout",
                )))
            }
            None => Poll::Pending,
        }
    }

    fn written<R>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        match poll {
            Poll::Ready(result) => {
                self.progressed();
                Poll::Ready(result)
            }
            Poll::Pending => self.pending(cx),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WatchedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.state.bytes_read();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WatchedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.written(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.written(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.written(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.written(cx, polled)
    }
}
