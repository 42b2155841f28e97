//! A WebSocket upgrade that lands on a node other than the session's
//! owner: this node holds the socket and relays it.
//!
//! 1. Before the `101`, the owner is asked (stage BEGIN): it checks the
//!    session is eligible (open, on polling, not upgrading) exactly as for
//!    a local upgrade and marks it upgrading. Refused: the socket is
//!    accepted and closed at once, as for a second local WebSocket.
//! 2. On `2probe`, the owner is told (PROBED) before `3probe` leaves, so
//!    its pending poll (local or forwarded) is released with `noop` at once.
//! 3. On `5` (COMMIT), the owner marks the session relayed: it reports
//!    WebSocket and keeps its queue and heartbeat; this node pulls the
//!    queue with relay GETs (one at a time, so frames stay in order) and
//!    sends each client frame as a relay POST, the next only after the
//!    owner applied the previous one.
//! 4. Any failure aborts on the owner (ABORT), which returns the session to
//!    polling; the owner also does so by itself after a deadline.

use super::frame::{
    self, F_BINARY, F_HANDOVER, F_RELAY, F_WS, Kind, STAGE_ABORT, STAGE_BEGIN, STAGE_COMMIT,
    STAGE_PROBED,
};
use super::{Cluster, Failure, handover, stats};
use crate::engine::Shared;
use crate::error::{ErrorCode, Refusal};
use crate::response::{self, EngineResponse, Hooks};
use crate::transport::ws::{self, WsConn};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::request::Parts;
use hyper::upgrade::OnUpgrade;
use sockeye_proto::eio::Packet;
use sockeye_proto::{Sid, Str};
use std::sync::Arc;
use tokio_tungstenite::tungstenite::{Message as WsMessage, Utf8Bytes};

/// Answers a WebSocket upgrade for `sid`, a session of another node.
pub(crate) async fn upgrade(
    shared: &Arc<Shared>,
    cluster: &Arc<Cluster>,
    sid: Sid,
    parts: &Parts,
    on_upgrade: OnUpgrade,
) -> EngineResponse {
    let accept = match ws::accept_key(&parts.headers) {
        Ok(a) => a,
        Err(r) => return response::ws_refusal(shared, parts, &r),
    };
    let owner = sid.tag();
    if !cluster.reachable(owner).await {
        stats::bump(&cluster.stats.dead_tag_refusals);
        return response::ws_refusal(shared, parts, &Refusal::new(ErrorCode::UnknownSid));
    }
    stats::bump(&cluster.stats.out_upgrade);
    let begin = cluster.frame(Kind::Upgrade, sid, 0, STAGE_BEGIN, Bytes::new());
    let reply = cluster
        .request(owner, begin, cluster.request_timeout, false)
        .await;
    match reply {
        Ok(r) if r.status == 200 => {}
        Ok(r) if r.flags & frame::F_JSON != 0 => {
            // Unknown on the owner: the same refusal as a local one.
            return response::ws_refusal(shared, parts, &Refusal::new(ErrorCode::UnknownSid));
        }
        Ok(_) => {
            // Not eligible (already upgrading or upgraded): accepted and
            // closed at once, as a second local WebSocket.
            stats::bump(&cluster.stats.upgrades_refused);
            let task_shared = shared.clone();
            tokio::spawn(async move {
                if let Some(mut conn) = ws::accept_socket(&task_shared, on_upgrade).await {
                    ws::close_conn(&mut conn, None).await;
                }
            });
            return ws::switching_protocols(shared, parts, accept, Hooks::Every);
        }
        Err(_) => return response::ws_refusal(shared, parts, &Refusal::new(ErrorCode::UnknownSid)),
    }
    let peer = crate::request::peer_addr(parts).map(|p| p.ip());
    let task_shared = shared.clone();
    let task_cluster = cluster.clone();
    tokio::spawn(async move {
        let (shared, cluster) = (task_shared, task_cluster);
        let conn = ws::accept_socket(&shared, on_upgrade).await;
        // A hand-over makes the session this node's: it must fit under this
        // node's caps (a place is taken now, given back unless the session
        // moves here); otherwise, or while closing, it is relayed.
        let admission = admit_here(&shared, &cluster, peer);
        let handover = admission.is_some();
        let probed = match conn {
            Some(mut conn) => {
                let probe = probe(&cluster, sid, &mut conn, handover);
                match tokio::time::timeout(shared.config.upgrade_timeout, probe).await {
                    Ok(Some(commit)) => Ok((conn, commit)),
                    _ => Err(Some(conn)),
                }
            }
            None => Err(None),
        };
        match probed {
            Ok((conn, commit)) if commit.flags & F_HANDOVER != 0 => {
                // The session moves here: a local WebSocket session from now.
                let admission = admission.flatten();
                if handover::restore(&shared, sid, &commit.body, conn, admission).is_none() {
                    tracing::warn!(%sid, "invalid hand-over snapshot: the session is lost");
                }
            }
            Ok((conn, _)) => run(&shared, &cluster, sid, conn).await,
            Err(conn) => {
                cluster.send(
                    owner,
                    cluster.frame(Kind::Upgrade, sid, 0, STAGE_ABORT, Bytes::new()),
                );
                if let Some(mut conn) = conn {
                    ws::close_conn(&mut conn, None).await;
                }
            }
        }
    });
    ws::switching_protocols(shared, parts, accept, Hooks::Every)
}

/// A place for a handed-over session under this node's caps; `None` when
/// a cap refuses or the engine is closing (the session is relayed then).
fn admit_here(
    shared: &Arc<Shared>,
    cluster: &Cluster,
    peer: Option<std::net::IpAddr>,
) -> Option<Option<crate::limits::Admission>> {
    if *cluster.closing.borrow() || shared.closing.load(std::sync::atomic::Ordering::Acquire) {
        return None;
    }
    match crate::limits::admit(shared, peer) {
        Ok(admission) => Some(admission),
        Err(_) => {
            tracing::debug!(?peer, "hand-over refused by a cap: relayed instead");
            None
        }
    }
}

/// Tells the owner about an upgrade step; its answer if it agreed.
async fn step(
    cluster: &Arc<Cluster>,
    sid: Sid,
    stage: u16,
    flags: u8,
) -> Option<super::frame::Frame> {
    let frame = cluster.frame(Kind::Upgrade, sid, flags, stage, Bytes::new());
    match cluster
        .request(sid.tag(), frame, cluster.request_timeout, false)
        .await
    {
        Ok(r) if r.status == 200 => Some(r),
        _ => None,
    }
}

/// The probe exchange, each step agreed with the owner first; the owner's
/// answer to the commit once the client sent `5` (a relay, or, when
/// `handover` offers it, a hand-over with the session's snapshot).
async fn probe(
    cluster: &Arc<Cluster>,
    sid: Sid,
    conn: &mut WsConn,
    handover: bool,
) -> Option<super::frame::Frame> {
    let commit_flags = if handover { F_HANDOVER } else { 0 };
    let mut probed = false;
    while let Some(msg) = conn.next().await {
        let text = match msg {
            Ok(WsMessage::Text(t)) => Str::from_utf8(Bytes::from(t)).unwrap_or_default(),
            Ok(WsMessage::Ping(_) | WsMessage::Pong(_)) => continue,
            _ => return None,
        };
        match Packet::decode_text(text) {
            Ok(p) if !probed && p.is_probe_ping() => {
                step(cluster, sid, STAGE_PROBED, 0).await?;
                conn.send(WsMessage::Text(Utf8Bytes::from_static("3probe")))
                    .await
                    .ok()?;
                probed = true;
            }
            Ok(Packet::Upgrade) if probed => {
                return step(cluster, sid, STAGE_COMMIT, commit_flags).await;
            }
            _ => return None,
        }
    }
    None
}

/// The relay: owner's queue to the socket, the socket's frames to the
/// owner, until either side closes, the owner dies or the engine closes.
async fn run(shared: &Shared, cluster: &Arc<Cluster>, sid: Sid, conn: WsConn) {
    let owner = sid.tag();
    let (mut sink, mut stream) = conn.split();
    let config = &shared.config;
    let pull_deadline = config.ping_interval + config.ping_timeout + cluster.request_timeout;
    let mut closing = cluster.closing.subscribe();
    // Owner -> client: one pull at a time. `true`: ended by the owner (the
    // session closed or was refused there); `false`: ended here (pull
    // failed, bad frame, socket write failed or stalled past
    // `ping_timeout`), so the owner must be told.
    let write_deadline = config.ping_timeout;
    let down = async {
        loop {
            let frame = cluster.frame(Kind::Get, sid, F_RELAY, 0, Bytes::new());
            let Ok(reply) = patient(cluster, frame, pull_deadline, true).await else {
                return false;
            };
            if reply.status != 200 {
                return true;
            }
            let Ok(frames) = frame::decode_ws_frames(reply.body) else {
                return false;
            };
            for (binary, data) in frames {
                let msg = if binary {
                    WsMessage::Binary(data)
                } else {
                    if data.as_ref() == b"1" {
                        // The session closed: a close frame, as locally.
                        return true;
                    }
                    match Utf8Bytes::try_from(data) {
                        Ok(text) => WsMessage::Text(text),
                        Err(_) => return false,
                    }
                };
                if !matches!(
                    tokio::time::timeout(write_deadline, sink.feed(msg)).await,
                    Ok(Ok(()))
                ) {
                    return false;
                }
            }
            if !matches!(
                tokio::time::timeout(write_deadline, sink.flush()).await,
                Ok(Ok(()))
            ) {
                return false;
            }
        }
    };
    // Tells the owner the socket closed (before the pull is dropped, whose
    // cancel would otherwise read as an error).
    let close = |reason: u16| {
        cluster.send(
            owner,
            cluster.frame(Kind::Close, sid, 0, reason, Bytes::new()),
        );
    };
    // Client -> owner: each frame applied before the next is read.
    let up = async {
        let reason = relay_up(cluster, sid, &mut stream).await;
        close(reason);
    };
    let shutdown = async {
        let _ = closing.wait_for(|c| *c).await;
        close(0);
    };
    tokio::select! {
        owner_knows = down => {
            if !owner_knows {
                stats::bump(&cluster.stats.relays_failed);
                close(1);
            }
        }
        () = up => {}
        () = shutdown => {}
    }
    if let Ok(mut conn) = sink.reunite(stream) {
        ws::close_conn(&mut conn, None).await;
    }
}

/// A relay's request to the owner: when this node is momentarily out of
/// forwarding budget (`Busy`), it is retried with a growing pause for up
/// to `request_timeout` instead of ending the relay (a polling client
/// would retry after a `503`; a relayed WebSocket cannot).
async fn patient(
    cluster: &Arc<Cluster>,
    frame: super::frame::Frame,
    deadline: std::time::Duration,
    long: bool,
) -> Result<super::frame::Frame, Failure> {
    let give_up = tokio::time::Instant::now() + cluster.request_timeout;
    let mut pause = std::time::Duration::from_millis(5);
    loop {
        match cluster
            .request(frame.sid.tag(), frame.clone(), deadline, long)
            .await
        {
            Err(Failure::Busy) if tokio::time::Instant::now() + pause < give_up => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_millis(200));
            }
            result => return result,
        }
    }
}

/// Sends the client's frames to the owner, each once the previous one was
/// applied; returns the close reason (0 closed, 1 error).
async fn relay_up(
    cluster: &Arc<Cluster>,
    sid: Sid,
    stream: &mut futures_util::stream::SplitStream<WsConn>,
) -> u16 {
    {
        while let Some(msg) = stream.next().await {
            let (binary, data) = match msg {
                Ok(WsMessage::Text(t)) => (false, Bytes::from(t)),
                Ok(WsMessage::Binary(b)) => (true, b),
                Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_)) => continue,
                Ok(WsMessage::Close(_)) => return 0,
                Err(_) => return 1,
            };
            stats::bump(&cluster.stats.out_post);
            let flags = F_WS | if binary { F_BINARY } else { 0 };
            let frame = cluster.frame(Kind::Post, sid, flags, 0, data);
            match patient(cluster, frame, cluster.request_timeout, false).await {
                Ok(r) if r.status == 200 => {}
                _ => return 1,
            }
        }
        0
    }
}
