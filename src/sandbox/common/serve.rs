//! Serving a sandbox router on loopback with our own accept loop (hyper HTTP/1.1 with
//! keep-alive, one task per connection): `TCP_NODELAY` on every accepted connection, as real
//! API servers do (without it, keep-alive responses wait for delayed ACKs), and the connection
//! reset of [`super::FaultRule::reset`]: when the router answers with the reset marker, the
//! service fails the request, hyper drops the connection without writing a response, and the
//! socket is closed with `SO_LINGER` 0 so the client gets an RST.

use super::control::Control;
use super::layer::{ResetConnection, record_and_inject};
use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::{Service as _, service_fn};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running sandbox server.
pub struct Served {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub url: String,
    /// The accept loop. Aborting it stops accepting; open connections finish their current
    /// request and close.
    pub handle: tokio::task::JoinHandle<()>,
}

/// Binds `router` on an ephemeral loopback port, behind the recording/fault/latency layer,
/// and serves it in the background.
pub async fn serve(system: &str, router: Router, control: Control) -> io::Result<Served> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let system: Arc<str> = Arc::from(system);
    let app = router.layer(middleware::from_fn(move |req: Request, next: Next| {
        let control = control.clone();
        let system = system.clone();
        async move { record_and_inject(system, control, req, next).await }
    }));
    let handle = tokio::spawn(accept_loop(listener, app));
    Ok(Served { url, handle })
}

async fn accept_loop(listener: TcpListener, app: Router) {
    // Dropped with this task: connections then shut down gracefully.
    let (_stop, stopped) = watch::channel(());
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                #[cfg(test)]
                accepted::note(&stream);
                tokio::spawn(serve_connection(stream, app.clone(), stopped.clone()));
            }
            // Out of file descriptors and the like: wait, do not spin.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// The error that makes hyper drop a connection without answering.
#[derive(Debug)]
struct ConnectionReset;

impl std::fmt::Display for ConnectionReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("sandbox fault: connection reset")
    }
}

impl std::error::Error for ConnectionReset {}

async fn serve_connection(stream: TcpStream, app: Router, mut stopped: watch::Receiver<()>) {
    let reset = Arc::new(AtomicBool::new(false));
    let io = TokioIo::new(ResettableStream {
        inner: stream,
        reset: reset.clone(),
    });
    let app = TowerToHyperService::new(app);
    let service = service_fn(move |req: hyper::Request<Incoming>| {
        let answer = app.call(req);
        let reset = reset.clone();
        async move {
            let resp = answer.await.unwrap_or_else(|never| match never {});
            if resp.extensions().get::<ResetConnection>().is_some() {
                reset.store(true, Ordering::SeqCst);
                return Err(ConnectionReset);
            }
            Ok(resp)
        }
    });
    let conn = http1::Builder::new().serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = stopped.changed() => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// A TCP stream that is closed with an RST (zero linger) once a reset was asked for.
struct ResettableStream {
    inner: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for ResettableStream {
    fn drop(&mut self) {
        if self.reset.load(Ordering::SeqCst) {
            let _ = self.inner.set_zero_linger();
        }
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Test-only counters of accepted connections, to check the listener's socket options.
#[cfg(test)]
pub(crate) mod accepted {
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub(crate) static CONNECTIONS: AtomicUsize = AtomicUsize::new(0);
    pub(crate) static WITHOUT_NODELAY: AtomicUsize = AtomicUsize::new(0);

    pub(crate) fn note(stream: &tokio::net::TcpStream) {
        CONNECTIONS.fetch_add(1, Ordering::SeqCst);
        if !stream.nodelay().unwrap_or(false) {
            WITHOUT_NODELAY.fetch_add(1, Ordering::SeqCst);
        }
    }
}
