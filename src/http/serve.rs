//! The accept loop: every TCP connection is served by hyper's HTTP/1 connection, wrapped so
//! that fault rules can cut it (`http::connection`), and watched so that a stranger cannot
//! hold the server's sockets: a connection may take at most the header-read timeout to send a
//! request head once its first byte arrived (slowloris), may sit idle between requests at most
//! the idle timeout, a request body must arrive within the header-read timeout of its first
//! read, and one source address may hold at most so many connections at once.
//! On shutdown it stops accepting, lets every connection finish the request it is serving
//! (within `--shutdown-timeout`), and closes the idle ones.

use crate::config::ConnectionLimits;
use crate::http::connection::{Connection, ConnectionState, CuttableStream, Wait};
use axum::extract::ConnectInfo;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower_service::Service;

/// Serves `router` on `listener` until `shutdown` completes, then drains the connections.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = Arc::new(limits);
    let sources = Sources::default();
    // Dropping `stop` tells the connection tasks to finish.
    let (stop, stopping) = watch::channel(());
    let mut connections = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // Ended connections' tasks are reaped as new ones come.
        while connections.try_join_next().is_some() {}
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Some(slot) = sources.take(peer.ip(), limits.max_per_source) else {
            crate::metrics::metrics().connection_closed("over_source_cap");
            tokio::spawn(refuse(stream, limits.max_per_source.unwrap_or(0)));
            continue;
        };
        let task = ConnectionTask {
            router: router.clone(),
            limits: limits.clone(),
            stopping: stopping.clone(),
            slot,
        };
        connections.spawn(task.run(stream, peer));
    }
    drop(listener);
    drop(stop);
    drop(stopping);
    // A request that does not finish within the grace is not waited for: its connection is
    // closed.
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            still_open = connections.len(),
            grace = ?limits.shutdown_grace,
            "requests still running when the shutdown grace ran out; closing their connections"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// The accept errors that concern one connection are skipped; the others (such as running
/// out of file descriptors) would repeat at once, so the loop waits a moment first.
async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind::*;
    if matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// A connection over the cap: one short answer that says so, then the connection closes.
async fn refuse(mut stream: TcpStream, cap: usize) {
    let body = format!(
        "{{\"type\":\"about:blank\",\"title\":\"Too many connections\",\"status\":503,\"code\":\"too_many_connections\",\"detail\":\"this address already has {cap} connections open to the server (the most one source may have); reuse them or close some\"}}"
    );
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// Open connections per source address.
#[derive(Default, Clone)]
struct Sources(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One connection counted against its source; dropping it gives the place back.
struct SourceSlot {
    sources: Sources,
    ip: IpAddr,
}

impl Sources {
    fn take(&self, ip: IpAddr, cap: Option<usize>) -> Option<SourceSlot> {
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(ip).or_insert(0);
        if cap.is_some_and(|cap| *count >= cap) {
            return None;
        }
        *count += 1;
        Some(SourceSlot {
            sources: self.clone(),
            ip,
        })
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut open = self.sources.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

struct ConnectionTask {
    router: axum::Router,
    limits: Arc<ConnectionLimits>,
    stopping: watch::Receiver<()>,
    slot: SourceSlot,
}

impl ConnectionTask {
    async fn run(mut self, stream: TcpStream, peer: SocketAddr) {
        let state = ConnectionState::new();
        let connection = Connection::new(state.clone(), peer.ip());
        let router = self.router.clone();
        let body_time = self.limits.header_read_timeout;
        let service = {
            let state = state.clone();
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let mut req = req.map(|body| axum::body::Body::new(DeadlineBody::new(body, body_time)));
                req.extensions_mut().insert(ConnectInfo(connection.clone()));
                let in_flight = state.begin_request();
                // The router is always ready (axum documents it), so it is called directly.
                let answer = router.clone().call(req);
                async move {
                    let answer = answer.await;
                    drop(in_flight);
                    answer
                }
            })
        };
        let conn = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(CuttableStream::new(stream, state.clone())), service);
        let mut conn = std::pin::pin!(conn);
        let header_read = self.limits.header_read_timeout.as_millis() as u64;
        let idle = self.limits.idle_timeout.as_millis() as u64;
        let mut draining = false;
        loop {
            // Sleep until the current deadline; a request in flight has none (its handler
            // bounds itself), so the watchdog looks again after the shorter timeout.
            let wake = match state.deadline(header_read, idle) {
                Some((_, at)) => at.saturating_sub(state.now()),
                None => header_read.min(idle),
            };
            tokio::select! {
                done = conn.as_mut() => {
                    if let Err(e) = done {
                        tracing::trace!(error = %e, "connection ended with an error");
                    }
                    break;
                }
                _ = self.stopping.changed(), if !draining => {
                    draining = true;
                    conn.as_mut().graceful_shutdown();
                }
                _ = tokio::time::sleep(Duration::from_millis(wake)) => {
                    if let Some((wait, at)) = state.deadline(header_read, idle)
                        && state.now() >= at
                    {
                        tracing::debug!(peer = %peer, waited = ?wait, "closing a connection that timed out");
                        crate::metrics::metrics().connection_closed(match wait {
                            Wait::Idle => "idle",
                            Wait::Head => "slow_head",
                        });
                        break;
                    }
                }
            }
        }
        drop(self.slot);
    }
}

/// A request body that must arrive in full within `limit` of the handler's first read: a
/// client trickling a body would otherwise hold its request (and connection) for ever.
struct DeadlineBody {
    body: hyper::body::Incoming,
    limit: Duration,
    deadline: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl DeadlineBody {
    fn new(body: hyper::body::Incoming, limit: Duration) -> DeadlineBody {
        DeadlineBody {
            body,
            limit,
            deadline: None,
        }
    }
}

/// The error a body that arrived too slowly ends with (the extractor answers 400 with it).
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
struct BodyTooSlow(Duration);

impl hyper::body::Body for DeadlineBody {
    type Data = hyper::body::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        use std::task::Poll;
        let limit = self.limit;
        let deadline = self.deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyTooSlow(limit)))));
        }
        std::pin::Pin::new(&mut self.body)
            .poll_frame(cx)
            .map_err(|e| Box::new(e) as axum::BoxError)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}
