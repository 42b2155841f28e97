//! The byte stream under a WebSocket session, and how data frames are written.
//!
//! tungstenite still parses what the client sends (masking, fragments,
//! control frames, UTF-8, size limits) and writes its own control frames
//! (pong, close). Data frames, though, Sockeye writes itself, into
//! [`WsIo`]'s queue, and sends a whole batch with one vectored write.
//!
//! Why not tungstenite's sink: it takes one `Message` at a time, checks it
//! again (a text message is UTF-8-validated a second time), encodes it and
//! copies it into its write buffer, and a broadcast repeats all of that for
//! every recipient (420 of the 2,240 instructions a broadcast delivery cost,
//! see `bench/PROFILE.md`). A frame from a server is never masked and never
//! needs to be fragmented (RFC 6455 §5.1-5.2), so writing one is a 2 to 10
//! byte header followed by the payload: small payloads are copied next to
//! their header in a staging buffer, large ones are queued as they are
//! (shared `Bytes`, no copy). That header is the only part of the codec
//! written by hand here.
//!
//! tungstenite's own writes come through [`AsyncWrite`] into the same
//! queue, so frames leave in the order they were queued, whoever queued
//! them.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use sockeye_proto::eio::{Packet, ProtocolVersion, WsFrame};
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use crate::session::Out;
use crate::transport::ws_read::ReadSide;

/// Payloads up to this size are copied next to their header; larger ones
/// are written from their own buffer.
const INLINE_MAX: usize = 1024;
/// At most this many slices per vectored write (Linux's `UIO_MAXIOV` is
/// 1024; a batch rarely needs more than a few).
const MAX_SLICES: usize = 64;
/// tungstenite's writes (control frames) are accepted until this much is
/// queued; past it, they wait for the queue to drain.
const MAX_QUEUED: usize = 1024 * 1024;

const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const FIN: u8 = 0x80;

/// A WebSocket's byte stream with Sockeye's write queue in front of it.
#[derive(Debug)]
pub(crate) struct WsIo<S> {
    io: S,
    queue: WriteQueue,
    read: ReadSide,
}

impl<S> WsIo<S> {
    pub(crate) fn new(io: S) -> Self {
        WsIo {
            io,
            queue: WriteQueue::default(),
            read: ReadSide::new(),
        }
    }

    /// Whether reading could make progress: false only while the last read
    /// found nothing and the stream has not signalled since. The I/O loop
    /// skips polling tungstenite then (each poll re-registers its wakers
    /// and clears its read buffer: work for nothing on every wake-up that
    /// only came to write).
    pub(crate) fn may_read(&self) -> bool {
        self.read.may_read()
    }

    /// Queues one outgoing packet as a WebSocket data frame.
    pub(crate) fn push(&mut self, out: Out, protocol: ProtocolVersion) {
        self.queue.push(out, protocol);
    }

    /// Whether queued bytes wait to be written.
    pub(crate) fn has_pending(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Whether the write buffers stay once written out (see
    /// [`BufferRelease`]); `false` frees them now if nothing waits in them.
    pub(crate) fn keep_buffers(&mut self, keep: bool) {
        self.queue.keep = keep;
        if !keep {
            self.queue.release();
        }
    }
}

impl<S: AsyncWrite + Unpin> WsIo<S> {
    /// Writes the queue out; ready once every queued byte is written.
    pub(crate) fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = self.queue.poll_drain(Pin::new(&mut self.io), cx);
        if polled.is_pending() {
            // A stream may read while it writes (TLS renegotiation in some
            // TLS stacks), with this context's waker instead of ours: the
            // next read is not skipped.
            self.read.unpark();
        }
        polled
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WsIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.read.poll_read(&mut this.io, cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WsIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.queue.len() >= MAX_QUEUED {
            ready!(this.poll_drain(cx))?;
        }
        this.queue.push_raw(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

/// Bytes waiting to be written, in order: sealed chunks, then the staging
/// buffer still being filled.
#[derive(Debug, Default)]
struct WriteQueue {
    chunks: VecDeque<Bytes>,
    staging: BytesMut,
    /// Bytes in `chunks`.
    sealed: usize,
    /// Keep the buffers once written out (a busy session).
    keep: bool,
}

impl WriteQueue {
    /// Frees the buffers, if nothing waits in them.
    fn release(&mut self) {
        if self.is_empty() {
            self.staging = BytesMut::new();
            if self.chunks.capacity() > 0 {
                self.chunks = VecDeque::new();
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.sealed == 0 && self.staging.is_empty()
    }

    fn len(&self) -> usize {
        self.sealed + self.staging.len()
    }

    fn push(&mut self, out: Out, protocol: ProtocolVersion) {
        match out {
            Out::Encoded(text) => self.frame(OP_TEXT, None, text.into_bytes()),
            // The common case: the type digit goes next to the header
            // instead of into a copy of the message.
            Out::Packet(Packet::Message(text)) => {
                self.frame(OP_TEXT, Some(b'4'), text.into_bytes())
            }
            Out::Packet(p) => match p.to_ws_frame(protocol) {
                WsFrame::Text(text) => self.frame(OP_TEXT, None, text.into_bytes()),
                WsFrame::Binary(data) => self.frame(OP_BINARY, None, data),
            },
        }
    }

    /// Queues one unmasked, final frame: `prefix` (if any) then `payload`.
    fn frame(&mut self, opcode: u8, prefix: Option<u8>, payload: Bytes) {
        let len = payload.len() + usize::from(prefix.is_some());
        put_header(&mut self.staging, opcode, len);
        if let Some(b) = prefix {
            self.staging.put_u8(b);
        }
        if payload.len() <= INLINE_MAX {
            self.staging.put_slice(&payload);
        } else {
            self.seal();
            self.sealed += payload.len();
            self.chunks.push_back(payload);
        }
    }

    fn push_raw(&mut self, bytes: &[u8]) {
        self.staging.put_slice(bytes);
    }

    fn seal(&mut self) {
        if !self.staging.is_empty() {
            let chunk = self.staging.split().freeze();
            self.sealed += chunk.len();
            self.chunks.push_back(chunk);
        }
    }

    fn poll_drain<S: AsyncWrite>(
        &mut self,
        mut io: Pin<&mut S>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        // The common case, only small frames: one buffer, written as it is
        // (sealing it would turn it into a shared buffer, an allocation per
        // batch).
        while self.chunks.is_empty() && !self.staging.is_empty() {
            let written = ready!(io.as_mut().poll_write(cx, &self.staging))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.staging.advance(written);
        }
        if !self.chunks.is_empty() {
            self.seal();
        }
        while !self.chunks.is_empty() {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let n = self.chunks.len().min(MAX_SLICES);
            for (slice, chunk) in slices.iter_mut().zip(self.chunks.iter()) {
                *slice = IoSlice::new(chunk);
            }
            let written = ready!(io.as_mut().poll_write_vectored(cx, &slices[..n]))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.advance(written);
        }
        // Written out: the buffers go too (an idle session holds none; the
        // next batch allocates them again), unless the session is busy.
        if self.keep {
            self.staging.clear();
        } else {
            self.release();
        }
        Poll::Ready(Ok(()))
    }

    fn advance(&mut self, mut written: usize) {
        self.sealed -= written;
        while written > 0 {
            let Some(front) = self.chunks.front_mut() else {
                return;
            };
            if written < front.len() {
                front.advance(written);
                return;
            }
            written -= front.len();
            self.chunks.pop_front();
        }
    }
}

/// The header of an unmasked, final frame (RFC 6455 §5.2).
fn put_header(buf: &mut BytesMut, opcode: u8, len: usize) {
    buf.put_u8(FIN | opcode);
    if len < 126 {
        buf.put_u8(len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        buf.put_u8(126);
        buf.put_u16(short);
    } else {
        buf.put_u8(127);
        buf.put_u64(len as u64);
    }
}

/// The period over which a WebSocket session's write rate is judged, and
/// for which a busy session keeps its write buffers (its queue's and the
/// frame buffer) after the period that found it busy.
pub(crate) const WRITE_PERIOD: Duration = Duration::from_millis(500);

/// Packets in one [`WRITE_PERIOD`] that make a session busy. A session
/// that only answers its handshake writes two or three; a chat user gets a
/// few messages a second.
const BUSY_PACKETS: u16 = 8;

/// Whether a WebSocket session keeps its write buffers between batches. A
/// busy session (a stream of broadcasts every few milliseconds) keeps them
/// and reuses them instead of allocating two per message; any other, and a
/// busy one after a quiet period, frees them as soon as they are written
/// out, so an idle session holds none.
#[derive(Default)]
pub(crate) struct BufferRelease {
    /// The end of the current period; `None` until the next batch.
    at: Option<Instant>,
    /// Packets written in the current period.
    packets: u16,
    /// Keep the buffers between batches.
    keep: bool,
}

impl BufferRelease {
    /// A batch of `packets` was queued: the end of a new period to look
    /// again at, when none was running (`now` is read only then, not for
    /// every batch).
    pub(crate) fn on_batch(
        &mut self,
        packets: usize,
        now: impl FnOnce() -> Instant,
    ) -> Option<Instant> {
        let packets = u16::try_from(packets).unwrap_or(u16::MAX);
        self.packets = self.packets.saturating_add(packets);
        if self.packets >= BUSY_PACKETS {
            self.keep = true;
        }
        if self.at.is_some() {
            return None;
        }
        let at = now() + WRITE_PERIOD;
        self.at = Some(at);
        Some(at)
    }

    /// Whether the buffers stay once written out.
    pub(crate) fn keep(&self) -> bool {
        self.keep
    }

    /// The timer fired at `now`: ends the period if it is over. `true` when
    /// the buffers kept so far are to go now (the period was quiet).
    pub(crate) fn due(&mut self, now: Instant) -> bool {
        match self.at {
            Some(at) if now >= at => {
                let busy = std::mem::take(&mut self.packets) >= BUSY_PACKETS;
                if busy {
                    self.at = Some(now + WRITE_PERIOD);
                    false
                } else {
                    self.at = None;
                    std::mem::take(&mut self.keep)
                }
            }
            _ => false,
        }
    }

    /// The timer's next deadline given the heartbeat's.
    pub(crate) fn next(&self, heartbeat: Instant) -> Instant {
        self.at.map_or(heartbeat, |at| at.min(heartbeat))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sockeye_proto::Str;
    use tokio::io::AsyncWriteExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::{Role, WebSocket};

    /// Writes `outs` through a `WsIo` into memory, with a writer that
    /// takes at most `step` bytes per call, and parses the bytes back with
    /// tungstenite as a client.
    async fn roundtrip(outs: Vec<Out>, protocol: ProtocolVersion, step: usize) -> Vec<Message> {
        let mut io = WsIo::new(Trickle {
            data: Vec::new(),
            step,
        });
        for out in outs {
            io.push(out, protocol);
        }
        // A control frame from tungstenite's side goes after them.
        io.write_all(&[0x89, 0x00]).await.expect("write");
        std::future::poll_fn(|cx| io.poll_drain(cx))
            .await
            .expect("drain");
        assert!(!io.has_pending());
        let mut ws =
            WebSocket::from_raw_socket(std::io::Cursor::new(io.io.data), Role::Client, None);
        let mut messages = Vec::new();
        while let Ok(m) = ws.read() {
            messages.push(m);
        }
        messages
    }

    struct Trickle {
        data: Vec<u8>,
        step: usize,
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = buf.len().min(self.step);
            self.get_mut().data.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }
        fn poll_write_vectored(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            let mut left = this.step;
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(left);
                this.data.extend_from_slice(&b[..take]);
                left -= take;
                n += take;
                if left == 0 {
                    break;
                }
            }
            Poll::Ready(Ok(n))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn text(n: usize) -> String {
        "é".repeat(n / 2) + &"x".repeat(n % 2)
    }

    #[tokio::test]
    async fn frames_of_every_size_parse_back() {
        for step in [1, 7, 100_000] {
            let sizes = [
                0, 1, 124, 125, 126, 127, 1023, 1024, 1025, 65_535, 65_536, 70_001,
            ];
            let mut outs = Vec::new();
            let mut want = Vec::new();
            for n in sizes {
                let s = text(n);
                outs.push(Out::Encoded(Str::from(s.clone())));
                want.push(Message::Text(s.clone().into()));
                outs.push(Out::Packet(Packet::Message(Str::from(s.clone()))));
                want.push(Message::Text(format!("4{s}").into()));
                let b = Bytes::from(vec![7u8; n]);
                outs.push(Out::Packet(Packet::Binary(b.clone())));
                want.push(Message::Binary(b));
            }
            outs.push(Out::Packet(Packet::Ping(Str::default())));
            want.push(Message::Text("2".into()));
            want.push(Message::Ping(Bytes::new()));
            let got = roundtrip(outs, ProtocolVersion::V4, step).await;
            assert_eq!(got, want, "step {step}");
        }
    }

    #[tokio::test]
    async fn v3_binary_gets_its_type_byte() {
        let got = roundtrip(
            vec![Out::Packet(Packet::Binary(Bytes::from_static(&[1, 2])))],
            ProtocolVersion::V3,
            3,
        )
        .await;
        assert_eq!(got[0], Message::Binary(Bytes::from_static(&[4, 1, 2])));
    }

    #[test]
    fn header_lengths() {
        let header = |len| {
            let mut b = BytesMut::new();
            put_header(&mut b, OP_TEXT, len);
            b.to_vec()
        };
        assert_eq!(header(125), [0x81, 125]);
        assert_eq!(header(126), [0x81, 126, 0, 126]);
        assert_eq!(header(65_535), [0x81, 126, 0xff, 0xff]);
        assert_eq!(header(65_536), [0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn a_drained_queue_keeps_its_buffers_only_when_busy() {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut sink = Trickle {
            data: Vec::new(),
            step: usize::MAX,
        };
        for (big, keep) in [(false, false), (true, false), (false, true), (true, true)] {
            let mut q = WriteQueue {
                keep,
                ..WriteQueue::default()
            };
            for _ in 0..100 {
                q.frame(OP_TEXT, None, Bytes::from(vec![b'a'; 100]));
            }
            if big {
                q.frame(OP_BINARY, None, Bytes::from(vec![1; 5000]));
            }
            let start = q.staging.as_ptr();
            sink.data.clear();
            assert!(matches!(
                q.poll_drain(Pin::new(&mut sink), &mut cx),
                Poll::Ready(Ok(()))
            ));
            assert!(q.is_empty());
            assert_eq!(sink.data.len(), 100 * 102 + if big { 5004 } else { 0 });
            if !keep {
                assert_eq!(q.staging.capacity(), 0, "big {big}");
                assert_eq!(q.chunks.capacity(), 0, "big {big}");
                continue;
            }
            q.frame(OP_TEXT, None, Bytes::from_static(b"next"));
            if !big {
                // Reused, not allocated again (a sealed buffer went with
                // its chunk).
                let at = q.staging.as_ptr().addr().wrapping_sub(start.addr());
                assert!(at <= 100 * 102, "a new buffer");
            }
            q.release();
            assert!(!q.is_empty(), "a release keeps what waits");
            assert!(matches!(
                q.poll_drain(Pin::new(&mut sink), &mut cx),
                Poll::Ready(Ok(()))
            ));
            q.release();
            assert_eq!(q.staging.capacity(), 0, "big {big}");
            assert_eq!(q.chunks.capacity(), 0, "big {big}");
        }
    }

    #[test]
    fn write_buffers_are_kept_only_through_busy_periods() {
        let mut release = BufferRelease::default();
        let t0 = Instant::now();
        let heartbeat = t0 + Duration::from_secs(25);
        assert_eq!(
            release.next(heartbeat),
            heartbeat,
            "no period: the heartbeat only"
        );
        // A handshake's two or three packets: not busy.
        let end = release.on_batch(2, || t0).expect("a period starts");
        assert_eq!(end, t0 + WRITE_PERIOD);
        assert_eq!(release.next(heartbeat), end);
        let no_clock = || unreachable!("no clock read");
        assert_eq!(release.on_batch(1, no_clock), None);
        assert!(!release.keep());
        assert!(!release.due(end - Duration::from_millis(1)), "not yet");
        assert!(!release.due(end), "nothing kept, nothing to free");
        assert_eq!(
            release.next(heartbeat),
            heartbeat,
            "no period until the next batch"
        );
        // A stream of packets: kept from the eighth, through the next period.
        let end = release.on_batch(1, || t0).expect("a new period");
        for _ in 0..6 {
            release.on_batch(1, no_clock);
        }
        assert!(!release.keep());
        release.on_batch(1, no_clock);
        assert!(release.keep());
        assert!(!release.due(end), "busy: kept for another period");
        assert!(release.keep());
        let end = release.next(heartbeat);
        assert_eq!(end, t0 + 2 * WRITE_PERIOD);
        release.on_batch(7, no_clock);
        assert!(release.due(end), "a quiet period: freed");
        assert!(!release.keep());
        assert_eq!(release.next(heartbeat), heartbeat);
    }
}
