//! The forwarder's side: a polling request (or WebSocket upgrade) for a
//! session of another node, sent to its owner and answered here.

use super::frame::{F_BINARY, F_BROKEN, F_JSON, Frame, Kind};
use super::{Cluster, Failure, relay, stats};
use crate::engine::{BoxError, Engine, Shared, method_not_allowed};
use crate::error::{ErrorCode, Refusal};
use crate::response::{self, EngineResponse};
use crate::session::TransportKind;
use crate::stats::Trip;
use crate::transport::body::{self, BodyRead};
use crate::transport::polling::{self, OCTET_STREAM, TEXT_PLAIN};
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Method, StatusCode};
use http_body::Body;
use hyper::upgrade::OnUpgrade;
use sockeye_proto::Sid;
use std::sync::Arc;

/// Serves a request for `sid`, a session of another node.
pub(crate) async fn forward<B>(
    engine: &Engine,
    cluster: &Arc<Cluster>,
    sid: Sid,
    transport: TransportKind,
    parts: Parts,
    body: B,
    on_upgrade: Option<OnUpgrade>,
) -> EngineResponse
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let shared = &engine.0;
    match (transport, on_upgrade) {
        (TransportKind::Polling, _) => match parts.method {
            Method::GET => get(shared, cluster, sid, &parts).await,
            Method::POST => post(shared, cluster, sid, &parts, body).await,
            _ => method_not_allowed(shared, &parts),
        },
        (TransportKind::WebSocket, Some(on_upgrade)) if shared.config.allow_upgrades => {
            relay::upgrade(shared, cluster, sid, &parts, on_upgrade).await
        }
        (TransportKind::WebSocket, Some(_)) => {
            response::ws_refusal(shared, &parts, &Refusal::new(ErrorCode::BadRequest))
        }
        (TransportKind::WebSocket, None) => {
            response::refusal(shared, &parts, &Refusal::new(ErrorCode::BadRequest))
        }
    }
}

/// `400 {"code":1}`: the session is unknown, or its owner is unreachable.
pub(crate) fn unknown(shared: &Shared, parts: &Parts) -> EngineResponse {
    response::refusal(shared, parts, &Refusal::new(ErrorCode::UnknownSid))
}

/// The answer to a failed forward.
fn failed(shared: &Shared, parts: &Parts, failure: Failure) -> EngineResponse {
    match failure {
        Failure::Busy => response::refusal(
            shared,
            parts,
            &Refusal::with_message(ErrorCode::BadRequest, "Cluster busy".into())
                .with_status(StatusCode::SERVICE_UNAVAILABLE),
        ),
        Failure::Unreachable | Failure::Timeout => unknown(shared, parts),
    }
}

/// Whether the owner may be asked; counts the refusal otherwise.
async fn owner_reachable(cluster: &Arc<Cluster>, sid: &Sid) -> bool {
    if cluster.reachable(sid.tag()).await {
        return true;
    }
    stats::bump(&cluster.stats.dead_tag_refusals);
    false
}

/// A refusal or status-only answer from the owner, as the local path
/// would give it.
fn owner_refusal(shared: &Shared, parts: &Parts, reply: &Frame) -> EngineResponse {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_REQUEST);
    if reply.flags & F_JSON != 0 {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return response::finish(
            shared,
            parts,
            status,
            headers,
            reply.body.clone(),
            response::Hooks::Every,
        );
    }
    response::empty(shared, parts, status)
}

async fn get(shared: &Shared, cluster: &Arc<Cluster>, sid: Sid, parts: &Parts) -> EngineResponse {
    if !owner_reachable(cluster, &sid).await {
        return unknown(shared, parts);
    }
    stats::bump(&cluster.stats.out_get);
    let config = &shared.config;
    // The owner answers within the ping interval (a ping is queued then);
    // v3 clients ping themselves, within the timeout.
    let deadline = config.ping_interval + config.ping_timeout + cluster.request_timeout;
    let frame = cluster.frame(Kind::Get, sid, 0, 0, Bytes::new());
    // Dropped (the client went away) before the answer: the guard inside
    // `request` tells the owner, which closes as for a dropped local poll.
    match cluster.request(sid.tag(), frame, deadline, true).await {
        Ok(reply) if reply.status == 200 => {
            let content_type = if reply.flags & F_BINARY != 0 {
                HeaderValue::from_static(OCTET_STREAM)
            } else {
                TEXT_PLAIN
            };
            polling::render_payload(shared, parts, reply.body, content_type)
        }
        Ok(reply) => owner_refusal(shared, parts, &reply),
        Err(failure) => failed(shared, parts, failure),
    }
}

async fn post<B>(
    shared: &Shared,
    cluster: &Arc<Cluster>,
    sid: Sid,
    parts: &Parts,
    body: B,
) -> EngineResponse
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    // The body is read and checked here, before anything is published.
    let max = shared.config.max_payload;
    let deadline = tokio::time::Instant::now() + shared.config.request_body_timeout;
    if let Some(drain) = body::announced_too_large(&parts.headers, max) {
        shared.stats.count(Trip::PayloadTooLarge);
        return match drain {
            Some(n) => {
                body::discard(Box::pin(body), n, deadline);
                response::empty(shared, parts, StatusCode::PAYLOAD_TOO_LARGE)
            }
            None => polling::closing(shared, parts, StatusCode::PAYLOAD_TOO_LARGE),
        };
    }
    let data = match body::read(body, max, deadline).await {
        BodyRead::Complete(data) => data,
        BodyRead::TooLarge(rest) => {
            shared.stats.count(Trip::PayloadTooLarge);
            body::discard(rest, max, deadline);
            return response::empty(shared, parts, StatusCode::PAYLOAD_TOO_LARGE);
        }
        BodyRead::TimedOut => {
            shared.stats.count(Trip::BodyTimeout);
            return polling::closing(shared, parts, StatusCode::REQUEST_TIMEOUT);
        }
        BodyRead::Failed => {
            // The local path closes the session on a broken body: so does
            // the owner, told without waiting.
            if cluster.reachable(sid.tag()).await {
                let frame = cluster.frame(Kind::Post, sid, F_BROKEN, 0, Bytes::new());
                cluster.send(sid.tag(), frame);
            }
            return response::empty(shared, parts, StatusCode::BAD_REQUEST);
        }
    };
    if !owner_reachable(cluster, &sid).await {
        return unknown(shared, parts);
    }
    stats::bump(&cluster.stats.out_post);
    let binary = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with(OCTET_STREAM));
    let flags = if binary { F_BINARY } else { 0 };
    let frame = cluster.frame(Kind::Post, sid, flags, 0, data);
    // Answered only once the owner applied the body: the client's next
    // POST (through whatever node) comes after, so order holds.
    match cluster
        .request(sid.tag(), frame, cluster.request_timeout, false)
        .await
    {
        Ok(reply) if reply.status == 200 => polling::post_ok(shared, parts),
        Ok(reply) => owner_refusal(shared, parts, &reply),
        Err(failure) => failed(shared, parts, failure),
    }
}
