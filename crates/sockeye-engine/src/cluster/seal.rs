//! Frame authentication: with a shared secret configured
//! ([`ClusterConfig::with_secret`](super::ClusterConfig::with_secret)),
//! every frame carries an HMAC-SHA256 of its bytes, and frames without a
//! valid one are dropped.
//!
//! Without a secret, anything that can publish on the bus's channels can
//! forge frames: answer another node's requests, inject packets into any
//! session, close sessions. The secret limits that to holders of the
//! secret. It does not stop a replay by someone who can both read and
//! publish on the bus; restrict the bus's channels to the nodes (Redis ACLs
//! on `sockeye-eio*`) and use TLS to Redis for that.
//!
//! HMAC from `ring`, which the engine already has through rustls: no new
//! dependency, and a constant-time check.

use super::frame::{BadFrame, Frame, SEALED_VERSION};
use bytes::{BufMut, Bytes, BytesMut};
use ring::hmac;
use std::fmt;

/// Length of the tag appended to each frame.
const TAG: usize = 32;

/// The cluster's shared secret, as an HMAC key.
#[derive(Clone)]
pub(crate) struct Seal(hmac::Key);

impl fmt::Debug for Seal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Seal(..)")
    }
}

impl Seal {
    pub fn new(secret: &[u8]) -> Seal {
        Seal(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }
}

/// The bytes to publish: the frame, then its tag when sealed.
pub(crate) fn close(seal: Option<&Seal>, frame: &Frame) -> Bytes {
    let Some(seal) = seal else {
        return frame.encode();
    };
    let mut out = BytesMut::with_capacity(frame.encoded_len() + TAG);
    frame.encode_into(&mut out);
    out[0] = SEALED_VERSION;
    let tag = hmac::sign(&seal.0, &out);
    out.put_slice(tag.as_ref());
    out.freeze()
}

/// Reads published bytes: checks and strips the tag when sealed.
pub(crate) fn open(seal: Option<&Seal>, data: Bytes) -> Result<Frame, BadFrame> {
    let Some(seal) = seal else {
        return Frame::decode(data);
    };
    let body = data.len().checked_sub(TAG).ok_or(BadFrame)?;
    hmac::verify(&seal.0, &data[..body], &data[body..]).map_err(|_| BadFrame)?;
    Frame::decode_version(data.slice(..body), SEALED_VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::frame::{Kind, no_sid};
    use sockeye_proto::NodeTag;

    fn frame() -> Frame {
        Frame {
            kind: Kind::Post,
            from: NodeTag([1, 2, 3]),
            flags: 0,
            request: 9,
            sid: no_sid(),
            status: 0,
            body: Bytes::from_static(b"4hello"),
        }
    }

    #[test]
    fn a_sealed_frame_opens_with_the_same_secret_only() {
        let a = Seal::new(b"secret");
        let data = close(Some(&a), &frame());
        let back = open(Some(&a), data.clone()).unwrap();
        assert_eq!(back.body, frame().body);
        assert!(open(Some(&Seal::new(b"other")), data.clone()).is_err());
        // Unsealed frames, and any changed byte, are refused; a node
        // without the secret refuses sealed frames (never reads the tag as
        // body).
        assert!(open(Some(&a), close(None, &frame())).is_err());
        assert!(open(None, data.clone()).is_err());
        let mut changed = data.to_vec();
        changed[40] ^= 1;
        assert!(open(Some(&a), Bytes::from(changed)).is_err());
        assert!(open(Some(&a), Bytes::from_static(b"short")).is_err());
    }
}
