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

#[cfg(test)]
mod tests {
    use crate::SocketIo;
    use bytes::Bytes;
    use http::{Request, Response, StatusCode};
    use http_body_util::{BodyExt as _, Full};
    use std::convert::Infallible;
    use std::path::PathBuf;
    use tower_layer::Layer as _;
    use tower_service::Service;

    /// A fake socket.io-client package, removed on drop.
    struct Package(PathBuf);

    impl Package {
        fn new(tag: &str) -> Self {
            let root = std::env::temp_dir().join(format!(
                "sockeye-service-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&root);
            std::fs::create_dir_all(root.join("dist")).unwrap();
            std::fs::write(root.join("package.json"), r#"{"version":"9.9.9"}"#).unwrap();
            for bundle in crate::client_files::BUNDLES {
                std::fs::write(root.join("dist").join(bundle), format!("// {bundle}")).unwrap();
            }
            Package(root)
        }

        fn dist(&self) -> PathBuf {
            self.0.join("dist")
        }
    }

    impl Drop for Package {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    async fn call<S, B>(svc: &mut S, uri: &str) -> (StatusCode, http::HeaderMap, Bytes)
    where
        S: Service<Request<Full<Bytes>>, Response = Response<B>>,
        S::Error: std::fmt::Debug,
        B: http_body::Body<Data = Bytes>,
        B::Error: std::fmt::Debug,
    {
        std::future::poll_fn(|cx| svc.poll_ready(cx)).await.unwrap();
        let res = svc
            .call(Request::get(uri).body(Full::new(Bytes::new())).unwrap())
            .await
            .unwrap();
        let (parts, body) = res.into_parts();
        (
            parts.status,
            parts.headers,
            body.collect().await.unwrap().to_bytes(),
        )
    }

    #[tokio::test]
    async fn service_serves_the_client_then_the_engine_then_404() {
        let pkg = Package::new("service");
        let io = SocketIo::builder()
            .serve_client(pkg.dist())
            .build()
            .unwrap();
        let mut svc = io.service();
        let (status, headers, body) = call(&mut svc, "/socket.io/socket.io.min.js").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[http::header::ETAG], "\"9.9.9\"");
        assert_eq!(body, "// socket.io.min.js");
        let (status, _, body) = call(&mut svc, "/socket.io/?EIO=4&transport=polling").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.starts_with(b"0{\"sid\":"));
        let (status, _, _) = call(&mut svc, "/socket.io/other.js").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _, _) = call(&mut svc, "/").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn without_serve_client_the_files_go_to_the_engine() {
        let io = SocketIo::builder().build().unwrap();
        let mut svc = io.service();
        let (status, _, _) = call(&mut svc, "/socket.io/socket.io.js").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn layer_in_front_of_an_inner_service() {
        let pkg = Package::new("layer");
        let io = SocketIo::builder()
            .path("/rt")
            .serve_client(pkg.dist())
            .build()
            .unwrap();
        let inner = tower_service_fn(|_req: Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"inner"))))
        });
        let mut svc = io.layer().layer(inner);
        assert_eq!(
            call(&mut svc, "/rt/socket.io.esm.min.js").await.2,
            "// socket.io.esm.min.js"
        );
        assert_eq!(call(&mut svc, "/index.html").await.2, "inner");
        assert_eq!(svc.engine().config().path(), "/rt");
    }

    #[test]
    fn a_missing_dist_fails_the_build() {
        let err = SocketIo::builder()
            .serve_client("/nonexistent/dist")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("serve_client"), "{err}");
    }

    /// A tiny `service_fn`, to avoid a dependency on `tower` for one test.
    fn tower_service_fn<F>(f: F) -> FnService<F> {
        FnService(f)
    }

    #[derive(Clone)]
    struct FnService<F>(F);

    impl<F, Fut, Req, Res> Service<Req> for FnService<F>
    where
        F: FnMut(Req) -> Fut,
        Fut: std::future::Future<Output = Result<Res, Infallible>>,
    {
        type Response = Res;
        type Error = Infallible;
        type Future = Fut;

        fn poll_ready(
            &mut self,
            _cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Infallible>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: Req) -> Fut {
            (self.0)(req)
        }
    }
}
