//! The handshake (`open`) packet's JSON.

use crate::Sid;
use std::fmt::Write as _;

/// The data of the `open` packet, written with exactly the keys and key order
/// of the reference server: `sid`, `upgrades`, `pingInterval`, `pingTimeout`,
/// `maxPayload`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPacket<'a> {
    /// The new session's id.
    pub sid: Sid,
    /// Transports the client may upgrade to (`["websocket"]` or `[]`).
    pub upgrades: &'a [&'a str],
    /// Heartbeat interval in milliseconds.
    pub ping_interval: u64,
    /// Heartbeat timeout in milliseconds.
    pub ping_timeout: u64,
    /// Largest payload the server accepts, in bytes.
    pub max_payload: u64,
}

impl OpenPacket<'_> {
    /// The JSON text (without the `0` type digit).
    pub fn to_json(&self) -> String {
        let mut s = String::with_capacity(128);
        s.push_str("{\"sid\":\"");
        s.push_str(self.sid.as_str());
        s.push_str("\",\"upgrades\":[");
        for (i, u) in self.upgrades.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            // Transport names are fixed ASCII words; serde_json quotes them.
            s.push_str(&serde_json::Value::from(*u).to_string());
        }
        let _ = write!(
            s,
            "],\"pingInterval\":{},\"pingTimeout\":{},\"maxPayload\":{}}}",
            self.ping_interval, self.ping_timeout, self.max_payload
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_keys_in_order() {
        let sid: Sid = "AAAAAAAAAAAAAAAAAAAA".parse().unwrap();
        let json = OpenPacket {
            sid,
            upgrades: &["websocket"],
            ping_interval: 25000,
            ping_timeout: 20000,
            max_payload: 1_000_000,
        }
        .to_json();
        assert_eq!(
            json,
            r#"{"sid":"AAAAAAAAAAAAAAAAAAAA","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
        );
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 5);
    }
}
