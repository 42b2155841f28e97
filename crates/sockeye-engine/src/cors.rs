//! CORS headers ([`CorsConfig`]) and the origin allowlist the engine enforces
//! ([`OriginPolicy`]), both built on [`AllowedOrigins`].
//!
//! They are separate on purpose: CORS only tells the browser which pages may *read* answers,
//! while the policy refuses requests, which is what stops cross-site WebSocket hijacking (see
//! [`OriginPolicy`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, CONTENT_LENGTH, ORIGIN, VARY,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};

/// Which request origins are allowed, for [`CorsConfig`] and [`OriginPolicy`].
///
/// A browser sends the origin as `scheme://host[:port]`: scheme and host in lower case, no
/// path, no trailing slash, the port only when it is not the scheme's default. Entries of
/// [`List`](Self::List) are compared to it exactly and case-sensitively, as the `cors` package
/// does, so write them the same way: `https://app.example.com`, `http://localhost:3000`.
///
/// `Origin: null` is sent by sandboxed iframes, `file://` pages and some redirects. It is the
/// literal text `null`, shared by all such contexts, so it only passes when listed (or matched
/// by a pattern or predicate); listing it lets in every sandboxed page on the web.
///
/// [`Pattern`](Self::Pattern) matches anywhere in the origin, like `RegExp.test` in the `cors`
/// package: anchor it (`^https://([a-z0-9-]+\.)?example\.com$`), or `https://example\.com`
/// would also match `https://example.com.evil.net`.
///
/// An `Origin` header that is not visible ASCII matches no variant except `Any` and `Reflect`.
#[derive(Clone)]
#[non_exhaustive]
pub enum AllowedOrigins {
    /// Every origin. CORS answers with the literal `Access-Control-Allow-Origin: *`, even with
    /// credentials enabled (as the `cors` package does), and browsers then refuse credentialed
    /// requests: use another variant together with [`CorsConfig::with_credentials`].
    Any,
    /// Every origin, echoed back in `Access-Control-Allow-Origin` (the `cors` package's
    /// `origin: true`). As an [`OriginPolicy`] it allows everything, like `Any`.
    Reflect,
    /// The origins equal to one of these strings (exact, case-sensitive comparison).
    List(Vec<String>),
    /// The origins this regular expression matches (unanchored: anchor it yourself).
    Pattern(regex::Regex),
    /// The origins for which this function returns `true`.
    Predicate(Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

impl AllowedOrigins {
    /// A [`List`](Self::List) from any iterator of strings.
    pub fn list<I, S>(origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        AllowedOrigins::List(origins.into_iter().map(Into::into).collect())
    }

    /// A [`Predicate`](Self::Predicate) from a function.
    pub fn predicate(f: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        AllowedOrigins::Predicate(Arc::new(f))
    }

    /// Whether `origin` (the text of an `Origin` header) is allowed.
    pub fn matches(&self, origin: &str) -> bool {
        match self {
            AllowedOrigins::Any | AllowedOrigins::Reflect => true,
            AllowedOrigins::List(list) => list.iter().any(|o| o == origin),
            AllowedOrigins::Pattern(re) => re.is_match(origin),
            AllowedOrigins::Predicate(f) => f(origin),
        }
    }

    /// Whether every origin is allowed, whatever it is.
    fn allows_all(&self) -> bool {
        matches!(self, AllowedOrigins::Any | AllowedOrigins::Reflect)
    }
}

impl Default for AllowedOrigins {
    /// [`AllowedOrigins::Any`], the `cors` package's default.
    fn default() -> Self {
        AllowedOrigins::Any
    }
}

impl fmt::Debug for AllowedOrigins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowedOrigins::Any => f.write_str("Any"),
            AllowedOrigins::Reflect => f.write_str("Reflect"),
            AllowedOrigins::List(list) => f.debug_tuple("List").field(list).finish(),
            AllowedOrigins::Pattern(re) => f.debug_tuple("Pattern").field(&re.as_str()).finish(),
            AllowedOrigins::Predicate(_) => f.write_str("Predicate(<fn>)"),
        }
    }
}

/// CORS response headers, with the semantics and defaults of the npm `cors` 2.8 package the
/// reference server uses for its `cors` option. The engine sends none when CORS is off.
///
/// CORS is **not access control**: a request from an origin that does not match still reaches
/// the engine (a handshake still opens a session); only `Access-Control-Allow-Origin` is left
/// out, so the browser does not let the page read the answer. Like `tower-http`'s `CorsLayer`,
/// it never rejects anything: use an [`OriginPolicy`] for that.
///
/// Defaults: any origin (`*`), methods `GET,HEAD,PUT,PATCH,POST,DELETE`, allowed headers
/// reflected from `Access-Control-Request-Headers`, no exposed headers, no credentials, no
/// `Max-Age`, preflight answered with `204`. The reference server's
/// `{origin: true, credentials: true}` is
/// `CorsConfig::new(AllowedOrigins::Reflect).with_credentials(true)`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CorsConfig {
    origins: AllowedOrigins,
    methods: Vec<Method>,
    allowed_headers: Option<Vec<HeaderName>>,
    exposed_headers: Vec<HeaderName>,
    credentials: bool,
    max_age: Option<Duration>,
    preflight_status: StatusCode,
}

impl Default for CorsConfig {
    /// `CorsConfig::new(AllowedOrigins::Any)`.
    fn default() -> Self {
        CorsConfig::new(AllowedOrigins::Any)
    }
}

impl CorsConfig {
    /// The defaults (see the type's documentation) with the given origins.
    pub fn new(origins: AllowedOrigins) -> Self {
        CorsConfig {
            origins,
            methods: vec![
                Method::GET,
                Method::HEAD,
                Method::PUT,
                Method::PATCH,
                Method::POST,
                Method::DELETE,
            ],
            allowed_headers: None,
            exposed_headers: Vec::new(),
            credentials: false,
            max_age: None,
            preflight_status: StatusCode::NO_CONTENT,
        }
    }

    /// Sets `Access-Control-Allow-Methods`, joined with `,`; an empty list sends no header.
    #[must_use]
    pub fn with_methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.methods = methods.into_iter().collect();
        self
    }

    /// Sets `Access-Control-Allow-Headers` instead of reflecting the preflight's
    /// `Access-Control-Request-Headers`; an empty list sends no header.
    #[must_use]
    pub fn with_allowed_headers(mut self, headers: impl IntoIterator<Item = HeaderName>) -> Self {
        self.allowed_headers = Some(headers.into_iter().collect());
        self
    }

    /// Sets `Access-Control-Expose-Headers` (default: none).
    #[must_use]
    pub fn with_exposed_headers(mut self, headers: impl IntoIterator<Item = HeaderName>) -> Self {
        self.exposed_headers = headers.into_iter().collect();
        self
    }

    /// Sends `Access-Control-Allow-Credentials: true` (default `false`). Needed for the session
    /// cookie on cross-origin polling, together with `withCredentials: true` on the client.
    #[must_use]
    pub fn with_credentials(mut self, credentials: bool) -> Self {
        self.credentials = credentials;
        self
    }

    /// Sets the preflight's `Access-Control-Max-Age`, in whole seconds (default: none).
    #[must_use]
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Sets the status of the preflight answer (default `204`; the `cors` package's
    /// `optionsSuccessStatus`, `200` for some old browsers).
    #[must_use]
    pub fn with_preflight_status(mut self, status: StatusCode) -> Self {
        self.preflight_status = status;
        self
    }

    /// The allowed origins.
    pub fn origins(&self) -> &AllowedOrigins {
        &self.origins
    }

    /// The methods sent in `Access-Control-Allow-Methods`.
    pub fn methods(&self) -> &[Method] {
        &self.methods
    }

    /// The headers sent in `Access-Control-Allow-Headers`; `None` reflects the request's.
    pub fn allowed_headers(&self) -> Option<&[HeaderName]> {
        self.allowed_headers.as_deref()
    }

    /// The headers sent in `Access-Control-Expose-Headers`.
    pub fn exposed_headers(&self) -> &[HeaderName] {
        &self.exposed_headers
    }

    /// Whether `Access-Control-Allow-Credentials: true` is sent.
    pub fn credentials(&self) -> bool {
        self.credentials
    }

    /// The preflight's `Access-Control-Max-Age`, if any.
    pub fn max_age(&self) -> Option<Duration> {
        self.max_age
    }

    /// The status of the preflight answer.
    pub fn preflight_status(&self) -> StatusCode {
        self.preflight_status
    }

    /// The headers of the answer to a preflight (`OPTIONS`) request with headers `req`; the
    /// engine sends them with [`preflight_status`](Self::preflight_status) and an empty body.
    pub(crate) fn preflight_headers(&self, req: &HeaderMap) -> HeaderMap {
        let mut out = HeaderMap::new();
        self.put_origin(req, &mut out);
        self.put_credentials(&mut out);
        if let Some(methods) = join(self.methods.iter().map(Method::as_str)) {
            out.insert(ACCESS_CONTROL_ALLOW_METHODS, methods);
        }
        let allowed = match &self.allowed_headers {
            Some(list) => join(list.iter().map(HeaderName::as_str)),
            None => {
                add_vary(&mut out, "Access-Control-Request-Headers");
                request_headers(req)
            }
        };
        if let Some(allowed) = allowed {
            out.insert(ACCESS_CONTROL_ALLOW_HEADERS, allowed);
        }
        if let Some(max_age) = self.max_age {
            out.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from(max_age.as_secs()));
        }
        self.put_exposed(&mut out);
        out.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        out
    }

    /// Adds the CORS headers of an actual (non-preflight) request with headers `req` to the
    /// response headers `resp`; an existing `Vary` is extended, not replaced. The engine does
    /// this for its own answers; services beside it (such as the Socket.IO layer's client
    /// files) call it to answer with the same headers.
    pub fn apply_actual(&self, req: &HeaderMap, resp: &mut HeaderMap) {
        self.put_origin(req, resp);
        self.put_credentials(resp);
        self.put_exposed(resp);
    }

    /// `Access-Control-Allow-Origin` (only for an allowed origin) and `Vary: Origin`.
    fn put_origin(&self, req: &HeaderMap, out: &mut HeaderMap) {
        if let AllowedOrigins::Any = self.origins {
            out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
            return;
        }
        // An origin that is not visible ASCII matches nothing and is never echoed.
        let origin = req
            .get(ORIGIN)
            .filter(|o| o.to_str().is_ok_and(|o| self.origins.matches(o)));
        if let Some(origin) = origin {
            out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        }
        add_vary(out, "Origin");
    }

    fn put_credentials(&self, out: &mut HeaderMap) {
        if self.credentials {
            out.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    }

    fn put_exposed(&self, out: &mut HeaderMap) {
        if let Some(exposed) = join(self.exposed_headers.iter().map(HeaderName::as_str)) {
            out.insert(ACCESS_CONTROL_EXPOSE_HEADERS, exposed);
        }
    }
}

/// Joins header-safe items with `,`; `None` when there are none.
fn join<'a>(items: impl Iterator<Item = &'a str>) -> Option<HeaderValue> {
    let joined = items.collect::<Vec<_>>().join(",");
    if joined.is_empty() {
        return None;
    }
    HeaderValue::try_from(joined).ok()
}

/// The request's `Access-Control-Request-Headers` (several lines joined with `, `), if not empty.
fn request_headers(req: &HeaderMap) -> Option<HeaderValue> {
    let mut joined = Vec::new();
    for value in req.get_all(ACCESS_CONTROL_REQUEST_HEADERS) {
        if !joined.is_empty() {
            joined.extend_from_slice(b", ");
        }
        joined.extend_from_slice(value.as_bytes());
    }
    if joined.is_empty() {
        return None;
    }
    HeaderValue::from_bytes(&joined).ok()
}

/// Adds `field` to `Vary` like the npm `vary` package: nothing if it is already listed (any
/// case) or if `Vary: *`; otherwise one combined value.
fn add_vary(map: &mut HeaderMap, field: &'static str) {
    let mut fields = Vec::new();
    let mut all_text = true;
    for value in map.get_all(VARY) {
        match value.to_str() {
            Ok(text) => fields.extend(text.split(',').map(str::trim).filter(|f| !f.is_empty())),
            Err(_) => all_text = false,
        }
    }
    if fields
        .iter()
        .any(|f| *f == "*" || f.eq_ignore_ascii_case(field))
    {
        return;
    }
    if !all_text {
        // Leave values that are not text alone; our field goes on a line of its own.
        map.append(VARY, HeaderValue::from_static(field));
        return;
    }
    fields.push(field);
    if let Ok(value) = HeaderValue::try_from(fields.join(", ")) {
        map.insert(VARY, value);
    }
}

/// The origin allowlist the engine enforces, beyond what the reference server does.
///
/// A request whose `Origin` is refused gets `403` with Engine.IO error code 4 (`Forbidden`)
/// on the polling handshake, and `403` before any `101` on every WebSocket request, including
/// the upgrade of an existing polling session.
///
/// # Why: cross-site WebSocket hijacking
///
/// Browsers do not apply CORS to WebSockets: any page on any site may open a WebSocket to this
/// server, and the browser sends the user's cookies and HTTP credentials with that handshake.
/// Unless the server checks `Origin`, a malicious page can act as the logged-in user over a
/// WebSocket. The same goes for a polling `POST` with a `text/plain` body, a "simple" request
/// that browsers send cross-site without a preflight. Scripts cannot forge the `Origin` a
/// browser sends, so checking it stops these attacks. Non-browser clients may send anything:
/// the policy protects browser users and is no substitute for authentication.
///
/// See [`AllowedOrigins`] for how to write origins, and about `Origin: null`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OriginPolicy {
    allowed: AllowedOrigins,
    allow_missing: bool,
}

impl OriginPolicy {
    /// A policy allowing these origins, and requests without an `Origin` header.
    pub fn new(allowed: AllowedOrigins) -> Self {
        OriginPolicy {
            allowed,
            allow_missing: true,
        }
    }

    /// Whether requests without an `Origin` header pass (default `true`).
    ///
    /// Browsers send `Origin` with every WebSocket handshake and every cross-origin request,
    /// so a missing header means a non-browser client or a same-origin `GET`. `false` refuses
    /// them, which locks out most non-browser clients.
    #[must_use]
    pub fn with_allow_missing(mut self, allow_missing: bool) -> Self {
        self.allow_missing = allow_missing;
        self
    }

    /// The allowed origins.
    pub fn allowed(&self) -> &AllowedOrigins {
        &self.allowed
    }

    /// Whether requests without an `Origin` header pass.
    pub fn allow_missing(&self) -> bool {
        self.allow_missing
    }

    /// Checks a request's `Origin` header (`None` when absent).
    pub(crate) fn check(&self, origin: Option<&HeaderValue>) -> Result<(), OriginRefused> {
        let Some(origin) = origin else {
            return if self.allow_missing {
                Ok(())
            } else {
                Err(OriginRefused::new(RefusalReason::Missing, None))
            };
        };
        if self.allowed.allows_all() {
            return Ok(());
        }
        let Ok(text) = origin.to_str() else {
            return Err(OriginRefused::new(RefusalReason::NotText, None));
        };
        if self.allowed.matches(text) {
            Ok(())
        } else {
            Err(OriginRefused::new(RefusalReason::NotAllowed, Some(text)))
        }
    }
}

/// Why an [`OriginPolicy`] refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefusalReason {
    /// No `Origin` header, and the policy requires one.
    Missing,
    /// The origin is not in the allowlist.
    NotAllowed,
    /// The `Origin` header is not visible ASCII text, so it matches nothing.
    NotText,
}

/// A request refused by an [`OriginPolicy`]; the engine answers it with `403`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
#[non_exhaustive]
pub struct OriginRefused {
    reason: RefusalReason,
    origin: Option<String>,
}

impl OriginRefused {
    /// Longest origin kept for the message: the header comes from the client.
    const MAX_ORIGIN_LEN: usize = 256;

    fn new(reason: RefusalReason, origin: Option<&str>) -> Self {
        let origin = origin.map(|o| {
            let mut end = o.len().min(Self::MAX_ORIGIN_LEN);
            while !o.is_char_boundary(end) {
                end -= 1;
            }
            o[..end].to_owned()
        });
        OriginRefused { reason, origin }
    }

    /// Why the request was refused.
    pub fn reason(&self) -> RefusalReason {
        self.reason
    }

    /// The refused origin (at most 256 bytes of it), when it was text.
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    fn describe(&self) -> String {
        match (self.reason, &self.origin) {
            (RefusalReason::Missing, _) => {
                "request without an Origin header refused by the origin policy".to_owned()
            }
            (RefusalReason::NotAllowed, Some(origin)) => {
                format!("origin {origin:?} is not allowed")
            }
            (RefusalReason::NotAllowed, None) => "origin is not allowed".to_owned(),
            (RefusalReason::NotText, _) => "Origin header is not visible ASCII text".to_owned(),
        }
    }
}

/// The reference's `INVALID_ORIGIN` check: `true` when `value` only holds characters valid in
/// a header value (HTAB, `0x20`-`0x7E`, `0x80`-`0xFF`). An invalid origin gets Engine.IO error
/// code 3 (`Bad request`).
pub(crate) fn origin_is_valid(value: &HeaderValue) -> bool {
    valid_header_bytes(value.as_bytes())
}

fn valid_header_bytes(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|&b| b == b'\t' || (0x20..=0x7e).contains(&b) || b >= 0x80)
}

#[cfg(test)]
#[path = "cors_tests.rs"]
mod tests;
