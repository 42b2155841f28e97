//! The two transports and the task each session runs.

pub(crate) mod polling;
pub(crate) mod ws;

use crate::engine::finish_session;
use crate::heartbeat::Due;
use crate::session::{Out, Session};
use sockeye_proto::eio::Packet;
use tokio::time::Instant;
use ws::WsConn;

/// The one task of a session. On polling it only keeps the heartbeat and
/// waits for an upgrade; once a WebSocket is there it becomes that socket's
/// I/O loop.
pub(crate) async fn run_session(session: Session, ws: Option<WsConn>) {
    if let Some(conn) = ws {
        ws::run(&session, conn).await;
    } else {
        loop {
            let notified = session.0.driver.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = Instant::now();
            if session.is_finished(now) {
                break;
            }
            let handed_over = session.0.state.lock().ws_slot.take();
            if let Some(conn) = handed_over {
                ws::run(&session, *conn).await;
                break;
            }
            let deadline = on_timer(&session, now);
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {}
                _ = &mut notified => {}
            }
        }
    }
    finish_session(&session);
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
