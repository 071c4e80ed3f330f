//! Connections a fault can cut. The server accepts TCP connections through `CuttableListener`,
//! and every request carries a `Connection` handle (as axum connect info): the fault layer
//! closes the connection without an answer (timeouts, ambiguous drops) or resets it (`reset`).
//! Once cut, the connection refuses to read or write, so hyper drops it instead of sending the
//! answer the handler returned.

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

const OPEN: u8 = 0;
const CLOSE: u8 = 1;
const RESET: u8 = 2;

/// A TCP listener whose connections can be cut.
pub struct CuttableListener(pub TcpListener);

impl Listener for CuttableListener {
    type Io = CuttableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (CuttableStream, SocketAddr) {
        // The plain listener's accept, with its handling of accept errors.
        let (stream, addr) = Listener::accept(&mut self.0).await;
        (
            CuttableStream {
                stream,
                cut: Arc::new(AtomicU8::new(OPEN)),
            },
            addr,
        )
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// An accepted connection that stops working once cut.
pub struct CuttableStream {
    stream: TcpStream,
    cut: Arc<AtomicU8>,
}

/// The handle to a request's connection.
#[derive(Clone)]
pub struct Connection(Arc<AtomicU8>, std::net::IpAddr);

impl Connection {
    /// The address the connection came from.
    pub fn peer(&self) -> std::net::IpAddr {
        self.1
    }

    /// Closes the connection without answering (FIN once hyper drops it).
    pub fn close(&self) {
        let _ = self
            .0
            .compare_exchange(OPEN, CLOSE, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Resets the connection (RST: the socket lingers for zero seconds when dropped).
    pub fn reset(&self) {
        self.0.store(RESET, Ordering::Release);
    }
}

impl Connected<IncomingStream<'_, CuttableListener>> for Connection {
    fn connect_info(stream: IncomingStream<'_, CuttableListener>) -> Self {
        Connection(stream.io().cut.clone(), stream.remote_addr().ip())
    }
}

impl CuttableStream {
    fn is_cut(&self) -> bool {
        self.cut.load(Ordering::Acquire) != OPEN
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
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
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
        if self.cut.load(Ordering::Acquire) == RESET {
            // Linger zero makes the close an immediate RST and does not block the thread
            // (the reason tokio deprecates SO_LINGER is a *non-zero* linger blocking on drop).
            #[allow(deprecated)]
            let _ = self.stream.set_linger(Some(std::time::Duration::ZERO));
        }
    }
}
