//! The HTTP side outside the Socket.IO path: the page (embedded at build
//! time, no front-end build step), its script and style, and `/healthz`.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use std::convert::Infallible;
use std::future::Ready;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_service::Service;

const INDEX: &str = include_str!("../static/index.html");
const SCRIPT: &str = include_str!("../static/chat.js");
const STYLE: &str = include_str!("../static/chat.css");

/// The page's resources allowed by its Content-Security-Policy: its own
/// origin only (the client bundle comes from this server too).
const CSP: &str = "default-src 'self'; img-src 'self' data:; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

/// Escapes text for an HTML attribute value or element content.
fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page with the Socket.IO path and transports filled in.
pub fn render_index(path: &str, transports: &[&str]) -> String {
    INDEX
        .replace("{{PATH}}", &escape_html(path))
        .replace("{{TRANSPORTS}}", &escape_html(&transports.join(",")))
}

struct Pages {
    /// The page, or `None` for the metrics-only listener.
    index: Option<Bytes>,
    /// `GET /metrics`, with --metrics.
    metrics: Option<Arc<sockeye_metrics::Exporter>>,
    /// The Admin UI's files at `/admin/`, with --admin-ui.
    admin: Option<Arc<crate::admin::AdminFiles>>,
}

/// The tower service for everything outside the Socket.IO path.
#[derive(Clone)]
pub struct Web(Arc<Pages>);

impl std::fmt::Debug for Web {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Web").finish_non_exhaustive()
    }
}

impl Web {
    /// The pages for a chat on `path` with these transports.
    pub fn new(path: &str, transports: &[&str]) -> Self {
        Web(Arc::new(Pages {
            index: Some(Bytes::from(render_index(path, transports))),
            metrics: None,
            admin: None,
        }))
    }

    /// The same, with the Admin UI's page at `/admin/`.
    pub fn with_admin(self, admin: Option<Arc<crate::admin::AdminFiles>>) -> Self {
        Web(Arc::new(Pages {
            index: self.0.index.clone(),
            metrics: self.0.metrics.clone(),
            admin,
        }))
    }

    /// The same, with `GET /metrics`.
    pub fn with_metrics(self, exporter: Arc<sockeye_metrics::Exporter>) -> Self {
        Web(Arc::new(Pages {
            index: self.0.index.clone(),
            metrics: Some(exporter),
            admin: self.0.admin.clone(),
        }))
    }

    /// Only `GET /metrics` (for --metrics-listen).
    pub fn metrics_only(exporter: Arc<sockeye_metrics::Exporter>) -> Self {
        Web(Arc::new(Pages {
            index: None,
            metrics: Some(exporter),
            admin: None,
        }))
    }

    /// The metrics text, rendered now.
    fn metrics(&self) -> Option<(&'static str, Bytes)> {
        let text = self.0.metrics.as_ref()?.render().ok()?;
        Some((sockeye_metrics::CONTENT_TYPE, Bytes::from(text)))
    }

    fn respond(&self, method: &Method, path: &str) -> Response<Full<Bytes>> {
        if let (Some(admin), true) = (
            &self.0.admin,
            method == Method::GET || method == Method::HEAD,
        ) {
            if let Some(res) = admin.respond(path, method == Method::HEAD) {
                return res;
            }
        }
        let found: Option<(&'static str, Bytes)> = match path {
            "/metrics" => self.metrics(),
            _ if self.0.index.is_none() => None,
            "/" | "/index.html" => self
                .0
                .index
                .clone()
                .map(|i| ("text/html; charset=utf-8", i)),
            "/chat.js" => Some((
                "application/javascript; charset=utf-8",
                Bytes::from_static(SCRIPT.as_bytes()),
            )),
            "/chat.css" => Some((
                "text/css; charset=utf-8",
                Bytes::from_static(STYLE.as_bytes()),
            )),
            "/healthz" => Some(("text/plain; charset=utf-8", Bytes::from_static(b"ok"))),
            _ => None,
        };
        let (status, content_type, body) = match found {
            Some(_) if method != Method::GET && method != Method::HEAD => (
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain; charset=utf-8",
                Bytes::from_static(b"Method Not Allowed"),
            ),
            Some((ct, body)) => (StatusCode::OK, ct, body),
            None => (
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                Bytes::from_static(b"Not Found"),
            ),
        };
        let len = body.len();
        let body = if method == Method::HEAD {
            Bytes::new()
        } else {
            body
        };
        let mut res = Response::new(Full::new(body));
        *res.status_mut() = status;
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if status == StatusCode::METHOD_NOT_ALLOWED {
            h.insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        }
        if content_type.starts_with("text/html") {
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            );
            h.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
        }
        res
    }
}

impl<B> Service<Request<B>> for Web {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        std::future::ready(Ok(self.respond(req.method(), req.uri().path())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_follows_the_path() {
        let page = render_index("/chat/io/", &["polling"]);
        assert!(page.contains("src=\"/chat/io/socket.io.min.js\""));
        assert!(page.contains("data-path=\"/chat/io/\""));
        assert!(page.contains("data-transports=\"polling\""));
        assert!(!page.contains("{{"));
    }

    #[test]
    fn injected_values_are_escaped() {
        let page = render_index("/a\"<b>&/", &["websocket"]);
        assert!(page.contains("/a&quot;&lt;b&gt;&amp;/"));
        assert!(!page.contains("/a\"<b>"));
    }

    #[test]
    fn routes() {
        let web = Web::new("/socket.io/", &["polling", "websocket"]);
        let ok = |p: &str| web.respond(&Method::GET, p).status();
        assert_eq!(ok("/"), StatusCode::OK);
        assert_eq!(ok("/chat.js"), StatusCode::OK);
        assert_eq!(ok("/chat.css"), StatusCode::OK);
        assert_eq!(ok("/nope"), StatusCode::NOT_FOUND);
        let res = web.respond(&Method::GET, "/healthz");
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        assert_eq!(
            web.respond(&Method::POST, "/").status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        let head = web.respond(&Method::HEAD, "/healthz");
        assert_eq!(head.headers()[header::CONTENT_LENGTH], "2");
    }
}
