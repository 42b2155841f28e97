//! The binary frames nodes exchange over the [`ClusterBus`](super::ClusterBus).
//!
//! A fixed 36-byte header, then an opaque body that is never decoded on the
//! way (a raw POST body, an encoded GET payload, relayed WebSocket frames):
//!
//! | bytes | field |
//! |---|---|
//! | 1 | format version (1) |
//! | 1 | kind |
//! | 3 | sender's node tag |
//! | 1 | flags (per kind) |
//! | 8 | request id (big endian) |
//! | 20 | sid |
//! | 2 | status (HTTP status of a reply, upgrade stage, close reason) |

use bytes::{Buf, BufMut, Bytes, BytesMut};
use sockeye_proto::{NodeTag, Sid};

const VERSION: u8 = 1;
/// The format version of a sealed frame (an HMAC follows it, see
/// `seal`): a node without the secret refuses it instead of reading the
/// tag as body, and a node with one refuses unsealed frames.
pub(crate) const SEALED_VERSION: u8 = 2;
/// Size of the fixed header.
pub(crate) const HEADER: usize = 36;

/// What a frame asks or answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Forwarder -> owner: a polling GET (or a relay pull) waits.
    Get = 1,
    /// Forwarder -> owner: a POST body (or one relayed WebSocket frame).
    Post = 2,
    /// Forwarder -> owner: the GET of this request id went away.
    Cancel = 3,
    /// Forwarder -> owner: a step of a WebSocket upgrade held by the sender.
    Upgrade = 4,
    /// Owner -> requester: the answer to a request id.
    Reply = 5,
    /// Forwarder -> owner: the relayed WebSocket closed.
    Close = 6,
    /// Node -> peers: leaving (graceful shutdown).
    Bye = 7,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Get,
            2 => Kind::Post,
            3 => Kind::Cancel,
            4 => Kind::Upgrade,
            5 => Kind::Reply,
            6 => Kind::Close,
            7 => Kind::Bye,
            _ => return None,
        })
    }
}

/// GET: a relay pull (answered with WebSocket frames, for a relayed session).
pub(crate) const F_RELAY: u8 = 1;
/// POST: `application/octet-stream` body; relayed frame: a binary frame.
/// REPLY: the body is `application/octet-stream`.
pub(crate) const F_BINARY: u8 = 1;
/// POST: the body is one relayed WebSocket frame.
pub(crate) const F_WS: u8 = 2;
/// POST: the client's body could not be read (the connection broke): the
/// owner closes the session, as the local path does. No answer is sent.
pub(crate) const F_BROKEN: u8 = 4;
/// REPLY: the body is a JSON refusal (`{"code":N,"message":...}`) to
/// answer with the reply's status.
pub(crate) const F_JSON: u8 = 2;

/// REPLY to an upgrade COMMIT: the body is the session's snapshot, the
/// session moves to the sender (hand-over).
pub(crate) const F_HANDOVER: u8 = 4;

/// Upgrade stages (in `status`).
pub(crate) const STAGE_BEGIN: u16 = 1;
/// `3probe` may be sent: pending polls are released.
pub(crate) const STAGE_PROBED: u16 = 2;
/// The client sent `5`: the session is relayed from now on.
pub(crate) const STAGE_COMMIT: u16 = 3;
/// The upgrade failed on the forwarder.
pub(crate) const STAGE_ABORT: u16 = 4;

/// One message between nodes.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    pub kind: Kind,
    pub from: NodeTag,
    pub flags: u8,
    pub request: u64,
    pub sid: Sid,
    pub status: u16,
    pub body: Bytes,
}

/// A frame could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed cluster frame")]
pub(crate) struct BadFrame;

impl Frame {
    /// The bytes to publish.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out.freeze()
    }

    /// The length of [`Frame::encode`]'s bytes.
    pub fn encoded_len(&self) -> usize {
        HEADER + self.body.len()
    }

    /// Appends the frame's bytes to `out`.
    pub fn encode_into(&self, out: &mut BytesMut) {
        out.put_u8(VERSION);
        out.put_u8(self.kind as u8);
        out.put_slice(&self.from.0);
        out.put_u8(self.flags);
        out.put_u64(self.request);
        out.put_slice(self.sid.as_str().as_bytes());
        out.put_u16(self.status);
        out.put_slice(&self.body);
    }

    /// Reads a frame; the body is a slice of `data` (no copy).
    pub fn decode(data: Bytes) -> Result<Frame, BadFrame> {
        Self::decode_version(data, VERSION)
    }

    /// Reads a frame of format `version`.
    pub fn decode_version(data: Bytes, version: u8) -> Result<Frame, BadFrame> {
        if data.len() < HEADER || data[0] != version {
            return Err(BadFrame);
        }
        let mut head = &data[1..HEADER];
        let kind = Kind::from_u8(head.get_u8()).ok_or(BadFrame)?;
        let from = NodeTag([head.get_u8(), head.get_u8(), head.get_u8()]);
        let flags = head.get_u8();
        let request = head.get_u64();
        let sid = std::str::from_utf8(&head[..Sid::LEN])
            .map_err(|_| BadFrame)?
            .parse::<Sid>()
            .map_err(|_| BadFrame)?;
        head.advance(Sid::LEN);
        let status = head.get_u16();
        Ok(Frame {
            kind,
            from,
            flags,
            request,
            sid,
            status,
            body: data.slice(HEADER..),
        })
    }
}

/// Relayed WebSocket frames in one body: per frame, a type byte (0 text,
/// 1 binary), a u32 length and the bytes.
pub(crate) fn encode_ws_frames(frames: &[(bool, Bytes)]) -> Bytes {
    let len: usize = frames.iter().map(|(_, b)| 5 + b.len()).sum();
    let mut out = BytesMut::with_capacity(len);
    for (binary, data) in frames {
        out.put_u8(u8::from(*binary));
        out.put_u32(data.len() as u32);
        out.put_slice(data);
    }
    out.freeze()
}

/// Reads what [`encode_ws_frames`] wrote.
pub(crate) fn decode_ws_frames(mut body: Bytes) -> Result<Vec<(bool, Bytes)>, BadFrame> {
    let mut frames = Vec::new();
    while !body.is_empty() {
        if body.len() < 5 {
            return Err(BadFrame);
        }
        let binary = body.get_u8() == 1;
        let n = body.get_u32() as usize;
        if body.len() < n {
            return Err(BadFrame);
        }
        frames.push((binary, body.split_to(n)));
    }
    Ok(frames)
}

/// A sid for frames that concern no session (`Bye`).
pub(crate) fn no_sid() -> Sid {
    "AAAAAAAAAAAAAAAAAAAA"
        .parse()
        .unwrap_or_else(|_| Sid::generate())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let f = Frame {
            kind: Kind::Post,
            from: NodeTag([1, 2, 3]),
            flags: F_BINARY | F_WS,
            request: u64::MAX - 7,
            sid: Sid::generate_with_tag(NodeTag([9, 9, 9])),
            status: 413,
            body: Bytes::from_static(b"\x00\x01payload"),
        };
        let g = Frame::decode(f.encode()).expect("decodes");
        assert_eq!(
            (g.kind, g.from, g.flags, g.request, g.sid, g.status, g.body),
            (f.kind, f.from, f.flags, f.request, f.sid, f.status, f.body)
        );
    }

    #[test]
    fn malformed_frames_are_refused() {
        assert!(Frame::decode(Bytes::from_static(b"short")).is_err());
        let mut bad = BytesMut::from(
            &Frame {
                kind: Kind::Bye,
                from: NodeTag([0; 3]),
                flags: 0,
                request: 0,
                sid: no_sid(),
                status: 0,
                body: Bytes::new(),
            }
            .encode()[..],
        );
        bad[1] = 99;
        assert!(Frame::decode(bad.freeze()).is_err());
    }

    #[test]
    fn ws_frames_round_trip() {
        let frames = vec![
            (false, Bytes::from_static(b"4hello")),
            (true, Bytes::from_static(b"\x01\x02")),
            (false, Bytes::new()),
        ];
        assert_eq!(decode_ws_frames(encode_ws_frames(&frames)), Ok(frames));
        assert!(decode_ws_frames(Bytes::from_static(b"\x00\x00\x00\x00\x09ab")).is_err());
    }
}
