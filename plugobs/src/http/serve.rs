//! The standalone server: its own thread and current-thread tokio runtime, hyper's HTTP/1
//! with header limits and a header timeout, a cap on connections, and a graceful stop.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::sync::{Semaphore, oneshot};

use super::endpoints::ServerLimits;
use super::error::ServeError;

/// Where [`serve`](super::serve) listens. A port alone is `127.0.0.1:port`, so nothing is
/// reachable from another host unless an address says so.
///
/// ```
/// use plugobs::http::ListenAddr;
///
/// assert_eq!(ListenAddr::from(9464).addr().to_string(), "127.0.0.1:9464");
/// assert_eq!(ListenAddr::from(([0, 0, 0, 0], 9464)).addr().to_string(), "0.0.0.0:9464");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenAddr(SocketAddr);

impl ListenAddr {
    /// The socket address.
    pub fn addr(self) -> SocketAddr {
        self.0
    }
}

impl From<u16> for ListenAddr {
    fn from(port: u16) -> Self {
        ListenAddr(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
    }
}

impl From<SocketAddr> for ListenAddr {
    fn from(addr: SocketAddr) -> Self {
        ListenAddr(addr)
    }
}

impl<I: Into<IpAddr>> From<(I, u16)> for ListenAddr {
    fn from((ip, port): (I, u16)) -> Self {
        ListenAddr(SocketAddr::new(ip.into(), port))
    }
}

/// A running standalone server. [`shutdown`](ServerHandle::shutdown), or dropping the
/// handle, stops accepting, lets requests in progress finish (for the shutdown grace of
/// [`Endpoints`](super::Endpoints), 5 s by default), and joins the server's thread.
#[derive(Debug)]
#[must_use = "dropping the handle shuts the server down"]
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// The address it listens on, with the port the system chose for port 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server gracefully and waits for its thread.
    ///
    /// # Errors
    /// [`ServeError::Panicked`] if the server's thread panicked (a bug).
    pub fn shutdown(mut self) -> Result<(), ServeError> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<(), ServeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(thread) => thread.join().map_err(|_| ServeError::Panicked),
            None => Ok(()),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}

/// Binds on the calling thread (so a bind error is returned), then serves on a new one.
pub(crate) fn start(
    router: Router,
    addr: ListenAddr,
    limits: ServerLimits,
) -> Result<ServerHandle, ServeError> {
    let addr = addr.addr();
    let listener =
        std::net::TcpListener::bind(addr).map_err(|source| ServeError::Bind { addr, source })?;
    listener
        .set_nonblocking(true)
        .map_err(ServeError::Runtime)?;
    let local = listener.local_addr().map_err(ServeError::Runtime)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(ServeError::Runtime)?;
    let (stop, stopped) = oneshot::channel();
    let thread = std::thread::Builder::new()
        .name("plugobs-http".to_owned())
        .spawn(move || runtime.block_on(run(listener, router, limits, stopped)))
        .map_err(ServeError::Runtime)?;
    tracing::info!(addr = %local, "plugobs HTTP endpoints listening");
    Ok(ServerHandle {
        addr: local,
        stop: Some(stop),
        thread: Some(thread),
    })
}

async fn run(
    listener: std::net::TcpListener,
    router: Router,
    limits: ServerLimits,
    mut stop: oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(error) => {
            tracing::error!(%error, "plugobs HTTP endpoints cannot listen");
            return;
        }
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes)
        .max_buf_size(limits.max_header_bytes.max(8 * 1024))
        .max_headers(limits.max_headers);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let permit = tokio::select! {
            _ = &mut stop => break,
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break, // never closed
            },
        };
        let stream = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before accept: wait a
                    // little rather than spin.
                    tracing::warn!(%error, "plugobs HTTP endpoints: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // Errors are the client's: a reset, a malformed request (hyper answered 400 or
            // 431), a header timeout.
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!("plugobs HTTP endpoints: requests still running at shutdown were cut");
        }
    }
}
