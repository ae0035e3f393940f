//! The public listener's accept loop, in place of `axum::serve`, for what a service exposed
//! without NGINX needs against slow and greedy clients:
//!
//! - a header-read timeout (hyper's): a request line and headers must arrive within
//!   `HEADER_READ_TIMEOUT_SECONDS`, however slowly they trickle in;
//! - an idle timeout: a connection with no byte read or written for `IDLE_TIMEOUT_SECONDS` is
//!   closed (a silent connection, or a keep-alive one nobody uses);
//! - a cap on open connections per client address (`MAX_CONNECTIONS_PER_IP`; IPv6 per /64):
//!   beyond it a new connection gets a 503 and is closed. The trusted proxies' connections are
//!   not counted: behind NGINX every connection comes from NGINX, which limits its own clients.
//!
//! Request bodies are bounded by the request timeout of the router (the extractors read them
//! inside it).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use ipnet::{IpNet, Ipv6Net};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::config::SecurityConfig;

/// The answer to a connection over the per-address cap.
const TOO_MANY_CONNECTIONS: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 103\r\n\r\n\
{\"error\":{\"code\":\"unavailable\",\"message\":\"too many open connections from this address; retry shortly\"}}";

/// The connection limits of the public port.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    /// 0: no cap.
    pub max_per_ip: usize,
    /// Peers not counted against the cap.
    pub trusted_proxies: Vec<IpNet>,
}

impl ConnectionLimits {
    pub fn from_security(security: &SecurityConfig) -> Self {
        Self {
            header_read_timeout: security.header_read_timeout(),
            idle_timeout: security.idle_timeout(),
            max_per_ip: security.max_connections_per_ip,
            trusted_proxies: security.trusted_proxies.clone(),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting and gives
/// open connections up to `grace` to finish their requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> io::Result<()> {
    let limits = Arc::new(limits);
    let counts = PerAddress::default();
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) if is_connection_error(&error) => continue,
                Err(error) => {
                    // Out of file descriptors, for example: wait instead of spinning.
                    tracing::error!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = counts.admit(peer.ip(), &limits) else {
            tracing::debug!(peer = %peer.ip(), "connection refused: too many from this address");
            ::metrics::counter!(crate::metric_names::RATE_LIMITED_TOTAL, "scope" => "connections_per_ip").increment(1);
            tokio::spawn(refuse(stream));
            continue;
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(
                TokioIo::new(IdleTimeout::new(stream, limits.idle_timeout)),
                service,
            );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!("requests still running after {grace:?}; stopping anyway");
        }
    }
    Ok(())
}

/// Errors of one connection that the listener survives (axum's list).
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

async fn refuse(mut stream: TcpStream) {
    let answer = async {
        stream.write_all(TOO_MANY_CONNECTIONS).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), answer).await;
}

/// Open connections per client address, all of this instance's.
#[derive(Default, Clone)]
struct PerAddress(Arc<Mutex<HashMap<IpAddr, usize>>>);

impl PerAddress {
    /// A slot for one more connection from `peer`, or `None` over the cap.
    fn admit(&self, peer: IpAddr, limits: &ConnectionLimits) -> Option<Slot> {
        let peer = canonical(peer);
        if limits.max_per_ip == 0 || limits.trusted_proxies.iter().any(|net| net.contains(&peer)) {
            return Some(Slot(None));
        }
        let key = group(peer);
        let mut counts = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let open = counts.entry(key).or_insert(0);
        if *open >= limits.max_per_ip {
            return None;
        }
        *open += 1;
        Some(Slot(Some((self.clone(), key))))
    }
}

/// Releases its connection's place when the connection ends.
struct Slot(Option<(PerAddress, IpAddr)>);

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some((counts, key)) = self.0.take() {
            let mut counts = counts
                .0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(open) = counts.get_mut(&key) {
                *open -= 1;
                if *open == 0 {
                    counts.remove(&key);
                }
            }
        }
    }
}

fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        IpAddr::V4(_) => address,
    }
}

/// IPv4 addresses as they are; IPv6 ones by their /64 (one machine may use all of it).
fn group(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => Ipv6Net::new(v6, 64).map_or(address, |net| IpAddr::V6(net.network())),
    }
}

/// A stream that fails with `TimedOut` once nothing was read or written for `idle`. The timer
/// is re-armed lazily (when it fires, from the last activity), so a busy connection pays one
/// clock read per read or write, not a timer update.
struct IdleTimeout<S> {
    inner: S,
    idle: Duration,
    last_activity: Instant,
    timer: Pin<Box<Sleep>>,
}

impl<S> IdleTimeout<S> {
    fn new(inner: S, idle: Duration) -> Self {
        let now = Instant::now();
        Self {
            inner,
            idle,
            last_activity: now,
            timer: Box::pin(tokio::time::sleep_until(now + idle)),
        }
    }

    /// Called when the inner stream is not ready: `Ready(Err)` once the connection has been
    /// idle for too long, otherwise `Pending` with the timer registered.
    fn poll_idle<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let due = self.last_activity + self.idle;
            if due <= Instant::now() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection idle for too long",
                )));
            }
            self.timer.as_mut().reset(due);
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for IdleTimeout<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(outcome) => {
                if buf.filled().len() > before {
                    this.last_activity = Instant::now();
                }
                Poll::Ready(outcome)
            }
            Poll::Pending => this.poll_idle(cx),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for IdleTimeout<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(outcome) => {
                this.last_activity = Instant::now();
                Poll::Ready(outcome)
            }
            Poll::Pending => this.poll_idle(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(outcome) => {
                this.last_activity = Instant::now();
                Poll::Ready(outcome)
            }
            Poll::Pending => this.poll_idle(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Ready(outcome) => Poll::Ready(outcome),
            Poll::Pending => this.poll_idle(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_per_ip: usize, trusted: &[&str]) -> ConnectionLimits {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            max_per_ip,
            trusted_proxies: trusted.iter().map(|t| t.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn the_cap_counts_per_address_and_per_64_and_spares_trusted_proxies() {
        let counts = PerAddress::default();
        let limits = limits(2, &["10.0.0.10/32"]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let a = counts.admit(ip("192.0.2.1"), &limits).unwrap();
        let _b = counts.admit(ip("::ffff:192.0.2.1"), &limits).unwrap();
        assert!(counts.admit(ip("192.0.2.1"), &limits).is_none());
        assert!(counts.admit(ip("192.0.2.2"), &limits).is_some());
        drop(a);
        assert!(counts.admit(ip("192.0.2.1"), &limits).is_some());
        let _v6 = (
            counts.admit(ip("2001:db8::1"), &limits).unwrap(),
            counts.admit(ip("2001:db8::2"), &limits).unwrap(),
        );
        assert!(counts.admit(ip("2001:db8::ffff:3"), &limits).is_none());
        assert!(counts.admit(ip("2001:db8:0:1::1"), &limits).is_some());
        let proxies: Vec<Slot> = (0..10)
            .map(|_| counts.admit(ip("10.0.0.10"), &limits).unwrap())
            .collect();
        assert_eq!(proxies.len(), 10);
    }

    #[test]
    fn the_refusal_is_a_complete_json_503() {
        let text = std::str::from_utf8(TOO_MANY_CONNECTIONS).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"]["code"], "unavailable");
    }
}
