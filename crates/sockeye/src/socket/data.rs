//! A socket's data store and handshake facts.

use super::*;

impl Socket {
    // ----- data -----------------------------------------------------------

    /// Node's `socket.data = value`: stores a value with the socket (replacing the previous one). It must
    /// serialize: `fetch_sockets` and connection state recovery carry it in
    /// JSON.
    pub fn set_data<T: Serialize + Send + Sync + 'static>(&self, value: T) {
        self.0.data.lock().typed = Some((Arc::new(value), to_json::<T>));
    }

    /// Node's `socket.data`: the value stored with [`Socket::set_data`], if it has type `T`.
    pub fn data<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let slot = self.0.data.lock();
        slot.typed
            .as_ref()
            .and_then(|(d, _)| d.clone().downcast::<T>().ok())
    }

    /// The data store as JSON (what `fetch_sockets` and recovery carry; for
    /// a recovered socket, the restored data until `set_data` is called).
    pub fn data_json(&self) -> serde_json::Value {
        let slot = self.0.data.lock();
        match &slot.typed {
            Some((d, f)) => f(d.as_ref()),
            None => slot.json.clone(),
        }
    }

    /// Node's `socket.recovered`: whether connection state recovery restored this socket (same id,
    /// rooms and data as before, missed packets delivered).
    pub fn recovered(&self) -> bool {
        self.0.recovered
    }

    /// Node's `socket.handshake.headers`: the request headers of the connection's first request.
    pub fn headers(&self) -> &http::HeaderMap {
        &self.request().headers
    }

    /// Node's `socket.handshake.query`: the decoded query parameters of the connection's first request.
    pub fn query(&self) -> Vec<(String, String)> {
        self.request().query_pairs()
    }

    /// Node's `socket.handshake.address`: the peer address.
    pub fn address(&self) -> Option<std::net::SocketAddr> {
        self.request().peer_addr
    }

    /// Node's `socket.handshake.secure`: whether the connection is TLS.
    pub fn secure(&self) -> bool {
        self.request().secure
    }

    /// Node's `socket.handshake.xdomain`: whether the request was cross-origin (it had an `Origin` header).
    pub fn xdomain(&self) -> bool {
        self.request().headers.contains_key(http::header::ORIGIN)
    }

    /// Node's `socket.handshake`, in its JSON shape: `headers` (names in
    /// lower case; repeated headers joined as Node joins them), `time`
    /// (JavaScript's `Date.toString()` in UTC, see [`Handshake::time`]),
    /// `address` (the peer's IP), `xdomain`, `secure`, `issued`
    /// (milliseconds since the epoch), `url` (path and query of the first
    /// request), `query` (decoded; a repeated parameter becomes an array,
    /// as Node's `querystring`) and `auth`.
    pub fn handshake_json(&self) -> serde_json::Value {
        let req = self.request();
        serde_json::json!({
            "headers": super::handshake::headers_json(&req.headers),
            "time": self.0.handshake.time(),
            "address": self.address().map(|a| a.ip().to_string()),
            "xdomain": self.xdomain(),
            "secure": self.secure(),
            "issued": self.0.handshake.issued_ms(),
            "url": req.uri.path_and_query().map_or_else(|| req.uri.to_string(), |p| p.to_string()),
            "query": super::handshake::query_json(self.query()),
            "auth": serde_json::to_value(&self.0.handshake.auth).unwrap_or(serde_json::Value::Null),
        })
    }

    pub(crate) fn info(&self) -> sockeye_adapter::SocketInfo {
        sockeye_adapter::SocketInfo::new(
            self.0.id.to_string(),
            self.handshake_json(),
            self.rooms().iter().map(|r| r.to_string()).collect(),
            self.data_json(),
        )
    }
}
