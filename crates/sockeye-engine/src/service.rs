//! Mounting: a tower [`Service`] and [`Layer`] that answer requests under the
//! engine's path and pass every other request to the inner service.

use crate::engine::{BoxError, Engine};
use crate::response::EngineBody;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tower_layer::Layer;
use tower_service::Service;

pub use body::ResponseBody;
use body::ResponseBodyProj;

/// The macro-generated enum cannot carry field docs; its variants say it all.
#[allow(missing_docs)]
mod body {
    use super::EngineBody;

    pin_project_lite::pin_project! {
        /// The body of an [`EngineService`] response: the engine's own, or the
        /// inner service's.
        #[project = ResponseBodyProj]
        #[derive(Debug)]
        pub enum ResponseBody<B> {
            /// A response built by the engine.
            Engine { #[pin] body: EngineBody },
            /// A response of the inner service.
            Inner { #[pin] body: B },
        }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project() {
            ResponseBodyProj::Engine { body } => body.poll_frame(cx).map_err(|e| match e {}),
            ResponseBodyProj::Inner { body } => body.poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Engine { body } => body.is_end_stream(),
            ResponseBody::Inner { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Engine { body } => body.size_hint(),
            ResponseBody::Inner { body } => body.size_hint(),
        }
    }
}

/// The inner service of a standalone engine: answers 404 to everything
/// outside the engine's path.
#[derive(Debug, Clone, Copy, Default)]
pub struct NotFound;

impl<B> Service<Request<B>> for NotFound {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: Request<B>) -> Self::Future {
        let mut res = Response::new(Full::new(Bytes::from_static(b"Not Found")));
        *res.status_mut() = StatusCode::NOT_FOUND;
        std::future::ready(Ok(res))
    }
}

/// A tower service that routes requests under the engine's path to the
/// engine and all others to `inner`.
///
/// ```no_run
/// # use sockeye_engine::{Engine, EngineConfig, EngineHandler, EngineLayer, Message, Session, CloseReason};
/// # struct Echo;
/// # impl EngineHandler for Echo {
/// #     fn on_open(&self, _: &Session) {}
/// #     fn on_message(&self, s: &Session, m: Message) { let _ = s.send_many([m]); }
/// #     fn on_close(&self, _: &Session, _: CloseReason) {}
/// # }
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let engine = Engine::new(EngineConfig::default(), Echo)?;
/// let app = axum::Router::new()
///     .route("/", axum::routing::get(|| async { "hello" }))
///     .layer(EngineLayer::new(engine));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// axum::serve(listener, app).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct EngineService<S = NotFound> {
    engine: Engine,
    inner: S,
}

impl EngineService<NotFound> {
    /// The engine alone, 404 elsewhere.
    pub fn new(engine: Engine) -> Self {
        EngineService {
            engine,
            inner: NotFound,
        }
    }
}

impl<S> EngineService<S> {
    /// The engine in front of `inner`.
    pub fn with_inner(engine: Engine, inner: S) -> Self {
        EngineService { engine, inner }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for EngineService<S>
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
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        if self.engine.matches_path(req.uri().path()) {
            let engine = self.engine.clone();
            Box::pin(async move {
                let res = engine.handle(req).await;
                Ok(res.map(|body| ResponseBody::Engine { body }))
            })
        } else {
            // The ready inner service takes the call; a clone stays for the
            // next one (the usual tower idiom).
            let clone = self.inner.clone();
            let mut inner = std::mem::replace(&mut self.inner, clone);
            Box::pin(async move {
                let res = inner.call(req).await?;
                Ok(res.map(|body| ResponseBody::Inner { body }))
            })
        }
    }
}

/// A tower layer that puts an engine in front of a service (for example an
/// axum `Router`).
#[derive(Debug, Clone)]
pub struct EngineLayer {
    engine: Engine,
}

impl EngineLayer {
    /// A layer for this engine.
    pub fn new(engine: Engine) -> Self {
        EngineLayer { engine }
    }
}

impl<S> Layer<S> for EngineLayer {
    type Service = EngineService<S>;

    fn layer(&self, inner: S) -> EngineService<S> {
        EngineService::with_inner(self.engine.clone(), inner)
    }
}
