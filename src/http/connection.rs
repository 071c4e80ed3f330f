//! Connections a fault can cut, and how long a connection may sit idle. The accept loop
//! (`http::serve`) wraps every TCP connection in a `CuttableStream`, and every request carries
//! a `Connection` handle (as axum connect info): the fault layer closes the connection without
//! an answer (timeouts, ambiguous drops) or resets it (`reset`). Once cut, the connection
//! refuses to read or write, so hyper drops it instead of sending the answer the handler
//! returned. The same shared state records when the connection went idle and when the bytes of
//! a new request head began to arrive, for the accept loop's header-read and idle timeouts.

use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

const OPEN: u8 = 0;
const CLOSE: u8 = 1;
const RESET: u8 = 2;

/// What a connection's stream, its requests and its watchdog share.
pub(crate) struct ConnectionState {
    cut: AtomicU8,
    /// Requests being handled (hyper serves one at a time on HTTP/1, so 0 or 1).
    in_flight: AtomicU32,
    /// When the connection last went idle (opened, or answered its last request), as
    /// milliseconds since `epoch`.
    idle_since: AtomicU64,
    /// When the first byte after going idle arrived (0: none yet): the head is being read.
    head_since: AtomicU64,
    epoch: Instant,
}

impl ConnectionState {
    pub(crate) fn new() -> Arc<ConnectionState> {
        Arc::new(ConnectionState {
            cut: AtomicU8::new(OPEN),
            in_flight: AtomicU32::new(0),
            idle_since: AtomicU64::new(0),
            head_since: AtomicU64::new(0),
            epoch: Instant::now(),
        })
    }

    /// Milliseconds since the connection opened (at least 1, so 0 can mean "not yet").
    pub(crate) fn now(&self) -> u64 {
        (self.epoch.elapsed().as_millis() as u64).max(1)
    }

    /// A request's head has been read and its handling begins.
    pub(crate) fn begin_request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(0, Ordering::Release);
        InFlight(self.clone())
    }

    /// What the watchdog waits for next, and until when (milliseconds since the epoch).
    pub(crate) fn deadline(&self, header_read: u64, idle: u64) -> Option<(Wait, u64)> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        match self.head_since.load(Ordering::Acquire) {
            0 => Some((Wait::Idle, self.idle_since.load(Ordering::Acquire) + idle)),
            since => Some((Wait::Head, since + header_read)),
        }
    }

    fn saw_bytes(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0 && self.head_since.load(Ordering::Relaxed) == 0 {
            self.head_since.store(self.now(), Ordering::Release);
        }
    }
}

/// What an idle connection is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Nothing has arrived since the connection opened or answered.
    Idle,
    /// A request head has begun to arrive and is not complete.
    Head,
}

/// A request being handled; dropping it (answered, or abandoned) marks the connection idle.
pub(crate) struct InFlight(Arc<ConnectionState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let now = self.0.now();
        self.0.idle_since.store(now, Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An accepted connection that stops working once cut.
pub struct CuttableStream {
    stream: TcpStream,
    state: Arc<ConnectionState>,
}

impl CuttableStream {
    pub(crate) fn new(stream: TcpStream, state: Arc<ConnectionState>) -> CuttableStream {
        CuttableStream { stream, state }
    }
}

/// The handle to a request's connection.
#[derive(Clone)]
pub struct Connection(Arc<ConnectionState>, IpAddr);

impl Connection {
    pub(crate) fn new(state: Arc<ConnectionState>, peer: IpAddr) -> Connection {
        Connection(state, peer)
    }

    /// The address the connection came from.
    pub fn peer(&self) -> IpAddr {
        self.1
    }

    /// Closes the connection without answering (FIN once hyper drops it).
    pub fn close(&self) {
        let _ = self
            .0
            .cut
            .compare_exchange(OPEN, CLOSE, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Resets the connection (RST: the socket lingers for zero seconds when dropped).
    pub fn reset(&self) {
        self.0.cut.store(RESET, Ordering::Release);
    }
}

impl CuttableStream {
    fn is_cut(&self) -> bool {
        self.state.cut.load(Ordering::Acquire) != OPEN
    }
}

fn cut_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "connection cut by a fault rule")
}

impl AsyncRead for CuttableStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.is_cut() {
            return Poll::Ready(Err(cut_error()));
        }
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.state.saw_bytes();
        }
        read
    }
}

impl AsyncWrite for CuttableStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.is_cut() {
            return Poll::Ready(Err(cut_error()));
        }
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.is_cut() {
            return Poll::Ready(Err(cut_error()));
        }
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.is_cut() {
            return Poll::Ready(Err(cut_error()));
        }
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

impl Drop for CuttableStream {
    fn drop(&mut self) {
        if self.state.cut.load(Ordering::Acquire) == RESET {
            // Linger zero makes the close an immediate RST and does not block the thread
            // (the reason tokio deprecates SO_LINGER is a *non-zero* linger blocking on drop).
            #[allow(deprecated)]
            let _ = self.stream.set_linger(Some(std::time::Duration::ZERO));
        }
    }
}
