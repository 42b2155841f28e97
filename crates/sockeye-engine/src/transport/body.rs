//! Reading a polling POST's body within its bounds: at most `max_payload`
//! bytes, before a deadline; and discarding what is left of a refused body
//! so that its connection stays usable.

use crate::engine::BoxError;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use http_body::Body;
use http_body_util::BodyExt;
use std::pin::Pin;
use tokio::time::Instant;

/// How reading a body ended.
pub(crate) enum BodyRead<B> {
    /// The whole body, within the limit.
    Complete(Bytes),
    /// More than the limit: the rest of the body, unread.
    TooLarge(Pin<Box<B>>),
    /// The deadline passed first.
    TimedOut,
    /// The body failed (the client went away mid-body, bad chunk framing).
    Failed,
}

/// A body refused from its announced `Content-Length` (over `max`), before
/// anything of it is read: `Some(drain)`, where `drain` is its length when
/// it is at most twice the limit (then it is drained to its end, see
/// [`discard`], so that the connection stays usable), `None` beyond that.
/// `None` when no length over the limit is announced.
pub(crate) fn announced_too_large(headers: &http::HeaderMap, max: usize) -> Option<Option<usize>> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())?;
    if declared <= max as u64 {
        return None;
    }
    Some(usize::try_from(declared).ok().filter(|n| *n - max <= max))
}

/// Reads the whole body, refusing it as soon as it goes over `max` bytes or
/// `deadline` passes.
pub(crate) async fn read<B>(body: B, max: usize, deadline: Instant) -> BodyRead<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let mut body = Box::pin(body);
    // The body is copied into a buffer of its own: hyper's chunks are
    // slices of the connection's 8 KiB read buffer, and the packets decoded
    // from the body share its bytes (zero copy), so anything a handler kept
    // of them (a raw argument) would keep that whole buffer alive after the
    // connection let go of it.
    let mut out = BytesMut::new();
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return BodyRead::TimedOut,
            Ok(None) => break,
            Ok(Some(Err(_))) => return BodyRead::Failed,
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        if out.len().saturating_add(data.remaining()) > max {
            return BodyRead::TooLarge(body);
        }
        out.put(data);
    }
    BodyRead::Complete(out.freeze())
}

/// Reads and drops up to `limit` more bytes of a refused body, in a task of
/// its own, until `deadline`: the response goes out meanwhile, and once the
/// body is read to its end hyper keeps the connection (no reset under the
/// client's feet). A body bigger than that is dropped, and hyper closes its
/// connection.
pub(crate) fn discard<B>(mut body: Pin<Box<B>>, limit: usize, deadline: Instant)
where
    B: Body + Send + 'static,
    B::Data: Send,
{
    tokio::spawn(async move {
        let mut left = limit;
        while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, body.frame()).await {
            if let Some(data) = frame.data_ref() {
                let n = data.remaining();
                if n > left {
                    return;
                }
                left -= n;
            }
        }
    });
}
