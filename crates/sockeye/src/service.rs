//! Mounting the Socket.IO server: a tower service and layer that answer the
//! client files (when [`crate::SocketIoBuilder::serve_client`] is on), hand
//! every other request under the path to the engine, and pass the rest to
//! an inner service.

use crate::client_files::ClientFiles;
use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use sockeye_engine::{Engine, EngineService, NotFound, ResponseBody};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The tower service of a [`crate::SocketIo`] server: the client files, then
/// the engine under its path, then `inner` (404 by default); made by
/// [`crate::SocketIo::service`] and [`SocketIoLayer`].
#[derive(Debug, Clone)]
pub struct SocketIoService<S = NotFound> {
    engine: EngineService<S>,
    client: Option<Arc<ClientFiles>>,
}

impl<S> SocketIoService<S> {
    pub(crate) fn new(engine: EngineService<S>, client: Option<Arc<ClientFiles>>) -> Self {
        SocketIoService { engine, client }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        self.engine.engine()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SocketIoService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Body + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<BoxError>,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.engine.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        if let Some(client) = &self.client {
            let cors = self.engine.engine().config().cors();
            if let Some(res) = client.respond(&req, cors) {
                let res = res.map(|body| ResponseBody::Engine { body });
                // An async block, not `ready(..)`: its Send-ness does not hinge
                // on `S::Error`, which never lives inside it.
                return Box::pin(async move { Ok(res) });
            }
        }
        self.engine.call(req)
    }
}

/// A tower layer that puts the Socket.IO server in front of a service (an
/// axum `Router`, for example); made by [`crate::SocketIo::layer`].
#[derive(Debug, Clone)]
pub struct SocketIoLayer {
    engine: Engine,
    client: Option<Arc<ClientFiles>>,
}

impl SocketIoLayer {
    pub(crate) fn new(engine: Engine, client: Option<Arc<ClientFiles>>) -> Self {
        SocketIoLayer { engine, client }
    }
}

impl<S> Layer<S> for SocketIoLayer {
    type Service = SocketIoService<S>;

    fn layer(&self, inner: S) -> SocketIoService<S> {
        SocketIoService::new(
            EngineService::with_inner(self.engine.clone(), inner),
            self.client.clone(),
        )
    }
}
