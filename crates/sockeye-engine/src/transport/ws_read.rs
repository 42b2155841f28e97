//! The read side of a WebSocket's byte stream: no read buffer of its own
//! while idle.
//!
//! tungstenite reads through [`WsIo`](super::ws_io::WsIo) into its own
//! buffer, which Sockeye keeps small (`WS_CODEC_BUFFER`, see
//! [`ws`](super::ws)): a buffer it holds for the connection's whole life,
//! and touches, whether or not anything arrives. The socket itself is read
//! into a scratch buffer of the worker thread, borrowed for the duration of
//! one read; what tungstenite did not take at once is kept in `rest`, the
//! only per-connection storage, which exists only while such bytes wait (an
//! incomplete frame, or the next frames of a burst) and is freed when they
//! are taken. The socket is not read again until they are.

use futures_util::task::AtomicWaker;
use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use tokio::io::{AsyncRead, ReadBuf};

/// The most one read from the socket takes (per worker thread, not per
/// connection).
const SCRATCH: usize = 16 * 1024;

thread_local! {
    static SCRATCH_BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0; SCRATCH].into_boxed_slice());
}

/// The read side: bytes read but not yet taken, and whether the stream
/// signalled read readiness since the last read that found nothing.
#[derive(Debug)]
pub(crate) struct ReadSide {
    /// Bytes read from the socket that the reader has not taken yet, from
    /// `rest_at` on; empty (no allocation) otherwise.
    rest: Vec<u8>,
    rest_at: usize,
    flag: Arc<ReadFlag>,
    /// `flag` as a waker (made once).
    waker: Waker,
    /// The last read returned `Pending`.
    parked: bool,
}

#[derive(Debug, Default)]
struct ReadFlag {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for ReadFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl ReadSide {
    pub(crate) fn new() -> Self {
        let flag = Arc::new(ReadFlag::default());
        ReadSide {
            rest: Vec::new(),
            rest_at: 0,
            waker: Waker::from(flag.clone()),
            flag,
            parked: false,
        }
    }

    /// Whether reading could make progress: false only while the last read
    /// found nothing, nothing read waits in `rest`, and the stream has not
    /// signalled since.
    pub(crate) fn may_read(&self) -> bool {
        !self.parked || self.flag.woken.load(Ordering::Acquire)
    }

    /// The next read is not skipped (the stream may have been polled with
    /// another waker than ours).
    pub(crate) fn unpark(&mut self) {
        self.parked = false;
    }

    /// Bytes read from the socket and not taken yet.
    #[cfg(test)]
    pub(crate) fn rest_len(&self) -> usize {
        self.rest.len() - self.rest_at
    }

    /// Heap bytes this side holds now.
    #[cfg(test)]
    pub(crate) fn rest_capacity(&self) -> usize {
        self.rest.capacity()
    }

    /// Fills `buf` from `rest`, or else from one read of `io`.
    pub(crate) fn poll_read<S: AsyncRead + Unpin>(
        &mut self,
        io: &mut S,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.rest_at < self.rest.len() {
            let n = (self.rest.len() - self.rest_at).min(buf.remaining());
            buf.put_slice(&self.rest[self.rest_at..self.rest_at + n]);
            self.rest_at += n;
            if self.rest_at == self.rest.len() {
                self.rest = Vec::new();
                self.rest_at = 0;
            }
            self.parked = false;
            return Poll::Ready(Ok(()));
        }
        // The stream is polled with our waker, which notes the wake-up and
        // passes it on to the caller's.
        self.flag.task.register(cx.waker());
        self.flag.woken.store(false, Ordering::Release);
        let mut inner = Context::from_waker(&self.waker);
        let polled = SCRATCH_BUF.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => {
                let mut into = ReadBuf::new(&mut scratch[..]);
                let polled = Pin::new(&mut *io).poll_read(&mut inner, &mut into);
                if polled.is_ready() {
                    let got = into.filled();
                    let now = got.len().min(buf.remaining());
                    buf.put_slice(&got[..now]);
                    if now < got.len() {
                        self.rest = got[now..].to_vec();
                        self.rest_at = 0;
                    }
                }
                polled
            }
            // Only if a stream read another `WsIo` from inside its own
            // read: read straight into the caller's buffer.
            Err(_) => Pin::new(&mut *io).poll_read(&mut inner, buf),
        });
        self.parked = polled.is_pending();
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that hands out `data` in reads of at most `step` bytes.
    struct Chunks {
        data: Vec<u8>,
        step: usize,
    }

    impl AsyncRead for Chunks {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            let n = this.data.len().min(this.step).min(buf.remaining());
            buf.put_slice(&this.data[..n]);
            this.data.drain(..n);
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn small_reads_get_every_byte_in_order_and_keep_nothing_after() {
        let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        for (step, take) in [(100_000, 14), (7, 3), (5000, 4096), (30_000, 1)] {
            let mut io = Chunks {
                data: data.clone(),
                step,
            };
            let mut side = ReadSide::new();
            let mut cx = Context::from_waker(Waker::noop());
            let mut got = Vec::new();
            loop {
                let mut space = vec![0; take];
                let mut buf = ReadBuf::new(&mut space);
                assert!(side.poll_read(&mut io, &mut cx, &mut buf).is_ready());
                if buf.filled().is_empty() {
                    break;
                }
                got.extend_from_slice(buf.filled());
                assert!(side.rest_len() < SCRATCH);
            }
            assert_eq!(got, data, "step {step}, take {take}");
            assert_eq!(side.rest_capacity(), 0);
        }
    }

    #[test]
    fn what_is_not_taken_waits_without_reading_the_socket() {
        let mut io = Chunks {
            data: b"0123456789".to_vec(),
            step: 100,
        };
        let mut side = ReadSide::new();
        let mut cx = Context::from_waker(Waker::noop());
        let mut space = [0; 4];
        let mut buf = ReadBuf::new(&mut space);
        assert!(side.poll_read(&mut io, &mut cx, &mut buf).is_ready());
        assert_eq!(buf.filled(), b"0123");
        assert!(io.data.is_empty());
        assert_eq!(side.rest_len(), 6);
        io.data = b"later".to_vec();
        let mut space = [0; 16];
        let mut buf = ReadBuf::new(&mut space);
        assert!(side.poll_read(&mut io, &mut cx, &mut buf).is_ready());
        assert_eq!(buf.filled(), b"456789");
        assert_eq!(io.data, b"later");
        assert_eq!(side.rest_capacity(), 0);
    }
}
