//! The two transports, and what drives each session: its WebSocket I/O
//! loop, or for polling the engine's shared timer.

pub(crate) mod body;
pub(crate) mod polling;
pub(crate) mod ws;
pub(crate) mod ws_io;
pub(crate) mod ws_read;

use crate::engine::finish_session;
use crate::heartbeat::Due;
use crate::session::{Out, Session};
use sockeye_proto::eio::Packet;
use tokio::time::Instant;
use ws::WsConn;

/// The polling side of a session, run by the shared timer: heartbeat and
/// close grace. Returns when to look again, or `None` once the session
/// needs no more polling ticks (finished, or moved to WebSocket, whose I/O
/// loop keeps its own heartbeat).
pub(crate) fn polling_tick(session: &Session, now: Instant) -> Option<Instant> {
    if !session.polling_driven() {
        return None;
    }
    if session.is_finished(now) {
        finish_session(session);
        return None;
    }
    Some(on_timer(session, now))
}

/// A WebSocket session's task: its I/O loop, then the end of the session
/// (also when the task is dropped unfinished, for example at runtime
/// shutdown).
///
/// Not an `async fn` around `ws::run`: that would keep a second copy of the
/// 400-byte connection in its own state for the session's whole life.
pub(crate) fn run_websocket(
    session: Session,
    mut conn: WsConn,
) -> impl std::future::Future<Output = ()> + Send {
    forget_write_wakers(&mut conn);
    ws::run(FinishOnDrop(session), conn)
}

/// Drops the waker that tungstenite keeps from the connection's last write
/// through its `Sink` (an upgrade's `3probe`, a hand-over's frames): the I/O
/// loop writes through [`ws_io::WsIo`] and never replaces it, and that
/// waker kept the task that wrote, the upgrade task (about 2.2 KB), alive
/// for the whole session. A flush with a no-op waker puts the no-op in its
/// place; nothing is pending (those writes were awaited to the end).
fn forget_write_wakers(conn: &mut WsConn) {
    use futures_util::SinkExt as _;
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let _ = conn.poll_flush_unpin(&mut cx);
}

/// Ends its session when dropped: closed first if the loop did not close
/// it (it was dropped or unwound), so the upper layer always sees
/// `on_close`.
pub(crate) struct FinishOnDrop(pub Session);

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        if !self.0.is_closed() {
            self.0
                .close_with(crate::handler::CloseReason::TransportError);
        }
        finish_session(&self.0);
    }
}

/// Runs what the heartbeat has due and returns when to look again.
pub(crate) fn on_timer(session: &Session, now: Instant) -> Instant {
    let config = &session.0.shared.config;
    let (due, deadline) = {
        let mut st = session.0.state.lock();
        if st.closed.is_some() {
            return st.linger_until.unwrap_or(now + config.close_grace);
        }
        let due = st.heartbeat.poll(now, config);
        (due, st.heartbeat.deadline())
    };
    match due {
        Due::Nothing => {}
        Due::Ping => {
            let _ = session.push(Out::Packet(Packet::Ping(Default::default())));
        }
        Due::Timeout => session.close_with(crate::handler::CloseReason::PingTimeout),
    }
    deadline
}

#[cfg(test)]
mod sizes_tests;
