//! The I/O stream of one accepted connection, as hyper sees it.
//!
//! hyper 1.x keeps an 8 KiB read buffer and an 8 KiB header buffer for as
//! long as an HTTP/1 connection lives, with no setting that frees them
//! between requests. An idle keep-alive connection (a long-polling client
//! between two polls, a browser's spare connection) would hold 16 KiB for
//! nothing. The connection task therefore serves a keep-alive connection
//! in *rounds*: one hyper connection per busy stretch, dropped (buffers and
//! all) once hyper is idle, and a new one when the next request arrives.
//!
//! [`Counted`] is the stream hyper gets. It watches hyper's reads to tell
//! the connection task when hyper waits for the next request (see
//! [`Phase`]), replays bytes read while no hyper connection existed, and
//! turns hyper's closing `shutdown` into a flush when the task is only
//! taking the stream back.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use super::conn::Places;

/// Where the current exchange of a connection stands; shared by its task,
/// its hyper service and its stream. All three live in the one connection
/// task, so the atomics are for ownership (hyper owns two of them), not for
/// threads racing. It also counts the responses the connection has been
/// given (up to [`Phase::REGULAR`]): see [`Phase::is_regular`].
#[derive(Debug, Default)]
pub(super) struct Phase {
    phase: AtomicU8,
    responses: AtomicU8,
}

impl Phase {
    /// A request is being read or answered (the default).
    const BUSY: u8 = 0;
    /// The service has produced its response: hyper writes its head next,
    /// with keep-alive as the request and response decided.
    const RESPONDED: u8 = 1;
    /// After a response, hyper read and found nothing: it waits, most
    /// likely for the next request.
    const PARKED: u8 = 2;
    /// The task is ending this round to take the stream back: hyper's
    /// `shutdown` must only flush.
    const RECYCLING: u8 = 3;
    /// Nothing more to recycle: the server shuts down, the connection was
    /// upgraded, or the task gave up on this round.
    const CLOSING: u8 = 4;

    /// Responses after which a connection counts as a regular client's.
    const REGULAR: u8 = 8;

    fn get(&self) -> u8 {
        self.phase.load(Ordering::Relaxed)
    }

    fn set(&self, phase: u8) {
        self.phase.store(phase, Ordering::Relaxed);
    }

    /// A new round starts: a fresh hyper connection reads a request.
    pub(super) fn start_round(&self) {
        self.set(Self::BUSY);
    }

    /// The service answered a request (called by the hyper service).
    pub(super) fn responded(&self) {
        if self.get() == Self::BUSY {
            self.set(Self::RESPONDED);
            let n = self.responses.load(Ordering::Relaxed);
            if n < Self::REGULAR {
                self.responses.store(n + 1, Ordering::Relaxed);
            }
        }
    }

    /// Whether the connection has had [`Self::REGULAR`] responses or more,
    /// over all its rounds: a client that keeps coming back (a long-polling
    /// client, a page's API calls), not one of a burst that connects, makes
    /// a request or two and goes quiet.
    pub(super) fn is_regular(&self) -> bool {
        self.responses.load(Ordering::Relaxed) >= Self::REGULAR
    }

    /// Whether hyper waits with nothing to do since its last response.
    pub(super) fn is_parked(&self) -> bool {
        self.get() == Self::PARKED
    }

    /// The task asks hyper to end the round (its graceful shutdown).
    pub(super) fn recycle(&self) {
        self.set(Self::RECYCLING);
    }

    /// Whether the round ended because the task asked for it.
    pub(super) fn is_recycling(&self) -> bool {
        self.get() == Self::RECYCLING
    }

    /// No more rounds on this connection.
    pub(super) fn close(&self) {
        self.set(Self::CLOSING);
    }

    fn after_read(&self, got_bytes: bool, pending: bool) {
        match self.get() {
            Self::RESPONDED if pending => self.set(Self::PARKED),
            Self::RESPONDED | Self::PARKED if got_bytes => self.set(Self::BUSY),
            _ => {}
        }
    }
}

/// An I/O stream holding its connection's places under the caps for as
/// long as it lives, even after hyper hands it over to an upgrade.
pub(super) struct Counted<T> {
    io: T,
    /// Bytes read while no hyper connection was running; read first.
    /// Boxed: rare on plain connections, and 24 bytes less for every
    /// upgraded one, which keeps this stream for its life.
    prefix: Option<Box<Bytes>>,
    phase: Arc<Phase>,
    _places: Places,
}

impl<T> Counted<T> {
    pub(super) fn new(io: T, places: Places, phase: Arc<Phase>) -> Self {
        Self {
            io,
            prefix: None,
            phase,
            _places: places,
        }
    }

    /// Bytes to hand to the next reader before the stream's own.
    pub(super) fn unread(&mut self, bytes: Bytes) {
        debug_assert!(self.prefix.is_none(), "a prefix replaced unread");
        if !bytes.is_empty() {
            self.prefix = Some(Box::new(bytes));
        }
    }

    /// The stream itself, to wait on between rounds.
    pub(super) fn stream_mut(&mut self) -> &mut T {
        &mut self.io
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(prefix) = &mut this.prefix {
            let n = prefix.len().min(buf.remaining());
            buf.put_slice(&prefix[..n]);
            prefix.advance(n);
            if prefix.is_empty() {
                this.prefix = None;
            }
            this.phase.after_read(n > 0, false);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let result = Pin::new(&mut this.io).poll_read(cx, buf);
        match &result {
            Poll::Pending => this.phase.after_read(false, true),
            Poll::Ready(Ok(())) => this.phase.after_read(buf.filled().len() > before, false),
            Poll::Ready(Err(_)) => {}
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.phase.is_recycling() {
            // The task takes the stream back for the next round: hyper has
            // flushed its own buffer; the stream's (TLS) must go out too.
            return Pin::new(&mut this.io).poll_flush(cx);
        }
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

/// How a stream waits for its next request between rounds, holding no
/// buffer.
pub(super) trait WaitForRequest {
    /// Ready when the next request can be read: `None` when its bytes wait
    /// in the stream (or it ended), `Some(bytes)` when waiting had to read
    /// them (to be read first).
    fn poll_next_request(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Bytes>>>;
}

impl WaitForRequest for TcpStream {
    /// The socket's readiness: no read, no copy (hyper's next connection
    /// reads the request itself).
    fn poll_next_request(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Bytes>>> {
        self.poll_read_ready(cx).map_ok(|()| None)
    }
}

impl WaitForRequest for TlsStream<TcpStream> {
    /// TLS records must be read and decrypted to know whether a request
    /// came: the first bytes are read on the stack of this poll and kept.
    fn poll_next_request(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Bytes>>> {
        let mut buf = [0u8; 2048];
        let mut buf = ReadBuf::new(&mut buf);
        Pin::new(self)
            .poll_read(cx, &mut buf)
            .map_ok(|()| Some(Bytes::copy_from_slice(buf.filled())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_after_the_response_that_finds_nothing_parks() {
        let phase = Phase::default();
        phase.after_read(false, true);
        assert!(!phase.is_parked(), "a request in progress never parks");
        phase.responded();
        phase.after_read(true, false);
        assert_eq!(
            phase.get(),
            Phase::BUSY,
            "a pipelined request keeps it busy"
        );
        phase.responded();
        phase.after_read(false, true);
        assert!(phase.is_parked());
        phase.after_read(true, false);
        assert_eq!(phase.get(), Phase::BUSY, "the next request wakes it");
    }

    #[test]
    fn only_a_recycling_round_softens_the_shutdown() {
        let phase = Phase::default();
        phase.responded();
        phase.after_read(false, true);
        phase.close();
        assert!(!phase.is_recycling());
        phase.after_read(false, true);
        assert!(!phase.is_parked(), "a closing connection never parks again");
        phase.recycle();
        assert!(phase.is_recycling());
        phase.start_round();
        assert_eq!(phase.get(), Phase::BUSY);
    }

    #[test]
    fn a_connection_is_regular_after_eight_responses_over_its_rounds() {
        let phase = Phase::default();
        for n in 1..=12 {
            if n == 5 {
                phase.recycle();
                phase.start_round();
            }
            phase.responded();
            phase.responded();
            assert_eq!(phase.is_regular(), n >= 8, "after {n} responses");
            phase.after_read(true, false);
        }
    }
}
