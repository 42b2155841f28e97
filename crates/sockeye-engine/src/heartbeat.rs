//! Heartbeat bookkeeping, driven by the session task's timer.
//!
//! v4: the server pings every `ping_interval` (counted from the last pong)
//! and closes with `ping timeout` when no pong comes within `ping_timeout`.
//! v3: the client pings; the server closes when no ping came within
//! `ping_interval + ping_timeout`.
//!
//! There is no timer per session here: the state is a few instants, and the
//! session's one task sleeps until [`Heartbeat::deadline`] on tokio's shared
//! timer wheel.

use crate::config::EngineConfig;
use sockeye_proto::eio::ProtocolVersion;
use tokio::time::Instant;

/// What the timer found due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// Nothing yet.
    Nothing,
    /// Send a ping now.
    Ping,
    /// The peer is gone.
    Timeout,
}

#[derive(Debug, Clone)]
pub(crate) enum Heartbeat {
    /// Server-driven (v4).
    Server {
        /// When to send the next ping (None while waiting for a pong).
        next_ping: Option<Instant>,
        /// When the pong is due (Some while waiting).
        pong_due: Option<Instant>,
    },
    /// Client-driven (v3): the next client ping is due by then.
    Client { ping_due: Instant },
}

impl Heartbeat {
    pub fn new(protocol: ProtocolVersion, config: &EngineConfig, now: Instant) -> Self {
        match protocol {
            ProtocolVersion::V4 => Heartbeat::Server {
                next_ping: Some(now + config.ping_interval),
                pong_due: None,
            },
            ProtocolVersion::V3 => Heartbeat::Client {
                ping_due: now + config.ping_interval + config.ping_timeout,
            },
        }
    }

    /// When the timer must next look at this heartbeat.
    pub fn deadline(&self) -> Instant {
        match *self {
            Heartbeat::Server {
                next_ping,
                pong_due,
            } => pong_due
                .or(next_ping)
                .unwrap_or_else(|| Instant::now() + std::time::Duration::from_secs(3600)),
            Heartbeat::Client { ping_due } => ping_due,
        }
    }

    /// Checks what is due at `now`; a due ping is recorded as sent.
    pub fn poll(&mut self, now: Instant, config: &EngineConfig) -> Due {
        match self {
            Heartbeat::Server {
                next_ping,
                pong_due,
            } => {
                if let Some(due) = *pong_due {
                    if now >= due {
                        return Due::Timeout;
                    }
                } else if let Some(at) = *next_ping {
                    if now >= at {
                        *next_ping = None;
                        *pong_due = Some(now + config.ping_timeout);
                        return Due::Ping;
                    }
                }
                Due::Nothing
            }
            Heartbeat::Client { ping_due } => {
                if now >= *ping_due {
                    Due::Timeout
                } else {
                    Due::Nothing
                }
            }
        }
    }

    /// A v4 pong arrived: the next ping is one interval away.
    pub fn on_pong(&mut self, now: Instant, config: &EngineConfig) {
        if let Heartbeat::Server {
            next_ping,
            pong_due,
        } = self
        {
            if pong_due.take().is_some() {
                *next_ping = Some(now + config.ping_interval);
            }
        }
    }

    /// A v3 client ping arrived.
    pub fn on_client_ping(&mut self, now: Instant, config: &EngineConfig) {
        if let Heartbeat::Client { ping_due } = self {
            *ping_due = now + config.ping_interval + config.ping_timeout;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config() -> EngineConfig {
        EngineConfig::default()
            .with_ping_interval(Duration::from_millis(300))
            .with_ping_timeout(Duration::from_millis(200))
    }

    #[test]
    fn v4_pings_then_times_out() {
        let c = config();
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(ProtocolVersion::V4, &c, t0);
        assert_eq!(hb.poll(t0, &c), Due::Nothing);
        assert_eq!(hb.deadline(), t0 + Duration::from_millis(300));
        let t1 = t0 + Duration::from_millis(300);
        assert_eq!(hb.poll(t1, &c), Due::Ping);
        assert_eq!(hb.deadline(), t1 + Duration::from_millis(200));
        assert_eq!(hb.poll(t1 + Duration::from_millis(199), &c), Due::Nothing);
        assert_eq!(hb.poll(t1 + Duration::from_millis(200), &c), Due::Timeout);
    }

    #[test]
    fn v4_pong_rearms_interval() {
        let c = config();
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(ProtocolVersion::V4, &c, t0);
        let t1 = t0 + Duration::from_millis(300);
        assert_eq!(hb.poll(t1, &c), Due::Ping);
        let t2 = t1 + Duration::from_millis(50);
        hb.on_pong(t2, &c);
        assert_eq!(hb.deadline(), t2 + Duration::from_millis(300));
        // A pong nobody asked for changes nothing.
        hb.on_pong(t2 + Duration::from_millis(10), &c);
        assert_eq!(hb.deadline(), t2 + Duration::from_millis(300));
    }

    #[test]
    fn v3_client_pings_keep_alive() {
        let c = config();
        let t0 = Instant::now();
        let mut hb = Heartbeat::new(ProtocolVersion::V3, &c, t0);
        assert_eq!(hb.deadline(), t0 + Duration::from_millis(500));
        hb.on_client_ping(t0 + Duration::from_millis(400), &c);
        assert_eq!(hb.poll(t0 + Duration::from_millis(600), &c), Due::Nothing);
        assert_eq!(hb.poll(t0 + Duration::from_millis(900), &c), Due::Timeout);
    }
}
