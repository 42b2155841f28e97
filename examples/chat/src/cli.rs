//! The command line. Every flag can also be given as an environment
//! variable (`SOCKEYE_CHAT_*`); a flag on the command line wins.

use clap::Parser;
use sockeye::RateLimit;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The SameSite attribute of the cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SameSiteArg {
    /// Sent on same-site requests only.
    Strict,
    /// Also sent on top-level navigations from other sites (the default).
    Lax,
    /// Sent on cross-site requests too; needs --cookie-secure.
    None,
}

/// The Sockeye chat: a multi-user chat page and its Socket.IO server.
///
/// Open http://127.0.0.1:3000/ in two browser tabs, pick two nicknames and
/// chat. The page loads the official socket.io-client bundle from this
/// server (`<path>socket.io.min.js`), so the npm package must be installed
/// (`scripts/chat` does it; see --client-dist). `GET /healthz` answers
/// `ok` for load balancers. SIGINT or SIGTERM shuts down gracefully: connected clients
/// are told, and the program exits 0 within a few seconds.
///
/// Every option can be set from the environment variable named in its
/// help; the command line wins over the environment. Repeatable options
/// take a comma-separated list in the environment.
#[derive(Debug, Parser)]
#[command(
    name = "sockeye-chat",
    version,
    about,
    long_about,
    max_term_width = 100
)]
pub struct Cli {
    /// Plain HTTP address to listen on (repeatable). Port 0 picks a free
    /// port; every bound address is printed as `listening on http://ADDR`.
    #[arg(
        long = "listen",
        value_name = "ADDR",
        env = "SOCKEYE_CHAT_LISTEN",
        value_delimiter = ',',
        default_value = "127.0.0.1:3000"
    )]
    pub listen: Vec<SocketAddr>,

    /// HTTPS address to listen on (repeatable), printed as `listening on
    /// https://ADDR`. Without --tls-cert/--tls-key a self-signed
    /// certificate for localhost, 127.0.0.1 and ::1 is generated at start.
    #[arg(
        long = "tls-listen",
        value_name = "ADDR",
        env = "SOCKEYE_CHAT_TLS_LISTEN",
        value_delimiter = ','
    )]
    pub tls_listen: Vec<SocketAddr>,

    /// PEM file with the certificate chain for the HTTPS listeners (needs
    /// --tls-key).
    #[arg(
        long = "tls-cert",
        value_name = "PEM",
        env = "SOCKEYE_CHAT_TLS_CERT",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,

    /// PEM file with the private key of --tls-cert.
    #[arg(
        long = "tls-key",
        value_name = "PEM",
        env = "SOCKEYE_CHAT_TLS_KEY",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,

    /// The Socket.IO path; the page follows it, and the client bundle is
    /// served under it. A missing leading or trailing `/` is added.
    #[arg(
        long = "path",
        value_name = "PATH",
        env = "SOCKEYE_CHAT_PATH",
        default_value = "/socket.io/"
    )]
    pub path: String,

    /// The transports accepted, comma-separated: `polling`, `websocket` or
    /// both. The page uses the same ones.
    #[arg(
        long = "transports",
        value_name = "LIST",
        env = "SOCKEYE_CHAT_TRANSPORTS",
        default_value = "polling,websocket"
    )]
    pub transports: String,

    /// Turns on the session cookie with this name (`io` is the usual one),
    /// set on the polling handshake: what sticky load balancers such as
    /// HAProxy (`cookie io prefix indirect nocache`) need. Defaults:
    /// `Path=/; HttpOnly; SameSite=Lax`.
    #[arg(long = "cookie", value_name = "NAME", env = "SOCKEYE_CHAT_COOKIE")]
    pub cookie: Option<String>,

    /// The cookie's Path attribute (default `/`).
    #[arg(
        long = "cookie-path",
        value_name = "PATH",
        env = "SOCKEYE_CHAT_COOKIE_PATH",
        requires = "cookie"
    )]
    pub cookie_path: Option<String>,

    /// The cookie's Domain attribute (default: none, host-only).
    #[arg(
        long = "cookie-domain",
        value_name = "DOMAIN",
        env = "SOCKEYE_CHAT_COOKIE_DOMAIN",
        requires = "cookie"
    )]
    pub cookie_domain: Option<String>,

    /// The cookie's SameSite attribute (default `lax`). `none` needs
    /// --cookie-secure.
    #[arg(
        long = "cookie-same-site",
        value_name = "MODE",
        env = "SOCKEYE_CHAT_COOKIE_SAME_SITE",
        ignore_case = true,
        requires = "cookie"
    )]
    pub cookie_same_site: Option<SameSiteArg>,

    /// Adds the Secure attribute: browsers then send the cookie over HTTPS
    /// only.
    #[arg(
        long = "cookie-secure",
        env = "SOCKEYE_CHAT_COOKIE_SECURE",
        requires = "cookie"
    )]
    pub cookie_secure: bool,

    /// Adds the Partitioned attribute (CHIPS); needs --cookie-secure.
    #[arg(
        long = "cookie-partitioned",
        env = "SOCKEYE_CHAT_COOKIE_PARTITIONED",
        requires = "cookie"
    )]
    pub cookie_partitioned: bool,

    /// The cookie's Max-Age in seconds (default: a session cookie).
    #[arg(
        long = "cookie-max-age",
        value_name = "SECS",
        env = "SOCKEYE_CHAT_COOKIE_MAX_AGE",
        requires = "cookie"
    )]
    pub cookie_max_age: Option<u64>,

    /// Leaves out the HttpOnly attribute, so page scripts can read the
    /// cookie.
    #[arg(
        long = "no-cookie-http-only",
        env = "SOCKEYE_CHAT_NO_COOKIE_HTTP_ONLY",
        requires = "cookie"
    )]
    pub no_cookie_http_only: bool,

    /// An origin allowed to connect, written as browsers send it:
    /// `scheme://host[:port]` (repeatable). Turns on CORS for exactly these
    /// origins and the enforced origin allowlist on both transports:
    /// polling handshakes and WebSocket requests from any other origin get
    /// 403. Requests without an Origin header (non-browser clients, a
    /// browser's same-origin polling GET) are accepted. List the chat
    /// page's own origin too (e.g. http://127.0.0.1:3000), since browsers
    /// send it on WebSocket requests and polling POSTs.
    #[arg(
        long = "allowed-origin",
        value_name = "ORIGIN",
        env = "SOCKEYE_CHAT_ALLOWED_ORIGIN",
        value_delimiter = ','
    )]
    pub allowed_origin: Vec<String>,

    /// The `dist/` folder of the npm package socket.io-client, whose
    /// bundles are served under --path. Without it the first of these
    /// that holds the bundle is used: node_modules/socket.io-client/dist
    /// next to the executable, then in the chat's folder of the source tree
    /// it was built from (where `npm ci` and `scripts/chat` install it).
    /// None: the program exits 2 and says what to run.
    #[arg(
        long = "client-dist",
        value_name = "DIR",
        env = "SOCKEYE_CHAT_CLIENT_DIST"
    )]
    pub client_dist: Option<PathBuf>,

    /// Limits the events each client socket may send, in events per second
    /// on average (`5`, `0.5` or `5/s`); off by default. Bursts of twice
    /// the rate (at least 1) are let through after a quiet period (see
    /// --rate-limit-burst). An event over the limit is dropped before the
    /// chat sees it (its ack is never answered) and logged once per socket;
    /// a client that has 10 events dropped within 10 s is disconnected (it
    /// sees `io server disconnect`).
    #[arg(
        long = "rate-limit",
        value_name = "EVENTS/S",
        env = "SOCKEYE_CHAT_RATE_LIMIT",
        value_parser = parse_rate
    )]
    pub rate_limit: Option<f64>,

    /// The burst of --rate-limit: how many events may arrive at once
    /// (default twice the rate, at least 1).
    #[arg(
        long = "rate-limit-burst",
        value_name = "N",
        env = "SOCKEYE_CHAT_RATE_LIMIT_BURST",
        requires = "rate_limit",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub rate_limit_burst: Option<u32>,

    /// At most N Engine.IO sessions (polling or WebSocket) open at once
    /// from one client address; a handshake over the cap gets 429 Too Many
    /// Requests. Off by default. Behind a reverse proxy every client has the
    /// proxy's address, so leave it off there (or set it to the proxy's
    /// share).
    #[arg(
        long = "max-connections-per-ip",
        value_name = "N",
        env = "SOCKEYE_CHAT_MAX_CONNECTIONS_PER_IP",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub max_connections_per_ip: Option<u32>,

    /// Run as one node of a cluster through Redis (`redis://host:port`):
    /// users, history and messages are shared with the other nodes.
    /// Without it, nothing changes.
    #[arg(long = "redis", value_name = "URL", env = "SOCKEYE_CHAT_REDIS")]
    pub redis: Option<String>,

    /// The cluster adapter, with --redis (Node's default names: key and
    /// channel prefix `socket.io`).
    #[arg(
        long = "adapter",
        value_enum,
        value_name = "ADAPTER",
        env = "SOCKEYE_CHAT_ADAPTER",
        default_value = "redis"
    )]
    pub adapter: AdapterArg,

    /// Connection state recovery (maxDisconnectionDuration 2 minutes): a
    /// client that reconnects in time gets what it missed (on any node with
    /// --adapter redis-streams, on the same node otherwise).
    #[arg(long = "recovery")]
    pub recovery: bool,

    /// With --redis, sessions are served from any node by default: a
    /// polling request or WebSocket upgrade that reaches a node other than
    /// the one that opened the session is forwarded to it through Redis, so
    /// no sticky load balancing is needed. This turns that off (then the
    /// load balancer must keep each session on one node).
    #[arg(long = "no-forwarding", env = "SOCKEYE_CHAT_NO_FORWARDING")]
    pub no_forwarding: bool,

    /// With forwarding, a secret all nodes share: the frames nodes send each
    /// other through Redis carry an HMAC of it, and frames without a valid
    /// one are dropped. Prefer the environment variable (a flag shows in
    /// the process list).
    #[arg(
        long = "cluster-secret",
        env = "SOCKEYE_CLUSTER_SECRET",
        hide_env_values = true
    )]
    pub cluster_secret: Option<String>,

    /// Logging and metrics.
    #[command(flatten)]
    pub ops: crate::ops::OpsArgs,
}

impl Cli {
    /// The per-socket rate limit of --rate-limit and --rate-limit-burst.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        let rate = self.rate_limit?;
        let burst = self
            .rate_limit_burst
            .unwrap_or_else(|| (rate * 2.0).ceil().clamp(1.0, f64::from(u32::MAX)) as u32);
        Some(RateLimit::new(rate, burst))
    }
}

/// Reads `--rate-limit`: a positive number of events per second, with an
/// optional `/s`.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let number = text.trim().strip_suffix("/s").unwrap_or(text.trim());
    match number.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!(
            "{text:?}: expected a positive number of events per second, such as 5, 0.5 or 5/s"
        )),
    }
}

/// The cluster adapters of `--adapter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AdapterArg {
    /// `@socket.io/redis-adapter` `createAdapter` (PUBLISH / PSUBSCRIBE).
    Redis,
    /// `createShardedAdapter` (Redis 7 SPUBLISH / SSUBSCRIBE).
    RedisSharded,
    /// `@socket.io/redis-streams-adapter`.
    RedisStreams,
}

/// `path` with exactly one leading and one trailing `/`; refuses `/` alone
/// (the page lives there) and characters that do not belong in a path.
pub fn normalize_path(path: &str) -> Result<String, String> {
    let inner = path.trim_matches('/');
    if inner.is_empty() {
        return Err(format!(
            "--path {path:?}: the Socket.IO path cannot be `/`, which serves the chat page"
        ));
    }
    if let Some(c) = inner
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-._~/!$&'()*+,;=:@%".contains(*c)))
    {
        return Err(format!(
            "--path {path:?}: {c:?} does not belong in a URL path"
        ));
    }
    Ok(format!("/{inner}/"))
}

/// Checks that an `--allowed-origin` is written as browsers send origins.
pub fn check_origin(origin: &str) -> Result<(), String> {
    let rest = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    match rest {
        Some(host)
            if !host.is_empty() && !host.contains('/') && !host.contains(char::is_whitespace) =>
        {
            Ok(())
        }
        _ => Err(format!(
            "--allowed-origin {origin:?}: write an origin as browsers send it, \
             scheme://host[:port] with no path or trailing slash (e.g. http://127.0.0.1:3000)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults() {
        let cli = Cli::try_parse_from(["sockeye-chat"]).unwrap();
        assert_eq!(cli.listen, ["127.0.0.1:3000".parse().unwrap()]);
        assert!(cli.tls_listen.is_empty());
        assert_eq!(cli.path, "/socket.io/");
        assert_eq!(cli.transports, "polling,websocket");
        assert!(cli.cookie.is_none());
        assert!(cli.allowed_origin.is_empty());
        assert!(cli.redis.is_none() && !cli.recovery && !cli.no_forwarding);
        assert_eq!(cli.adapter, AdapterArg::Redis);
    }

    #[test]
    fn cluster_flags() {
        let cli = Cli::try_parse_from([
            "sockeye-chat",
            "--redis",
            "redis://127.0.0.1:6379",
            "--adapter",
            "redis-streams",
            "--recovery",
        ])
        .unwrap();
        assert_eq!(cli.redis.as_deref(), Some("redis://127.0.0.1:6379"));
        assert_eq!(cli.adapter, AdapterArg::RedisStreams);
        assert!(cli.recovery);
        // Forwarding is on with --redis unless turned off.
        assert!(!cli.no_forwarding);
        let off =
            Cli::try_parse_from(["sockeye-chat", "--redis", "redis://h:1", "--no-forwarding"])
                .unwrap();
        assert!(off.no_forwarding);
        assert!(Cli::try_parse_from(["sockeye-chat", "--adapter", "mongo"]).is_err());
    }

    #[test]
    fn repeatable_and_cookie_flags() {
        let cli = Cli::try_parse_from([
            "sockeye-chat",
            "--listen",
            "127.0.0.1:0",
            "--listen",
            "[::1]:0",
            "--tls-listen",
            "127.0.0.1:0",
            "--cookie",
            "io",
            "--cookie-same-site",
            "None",
            "--cookie-secure",
            "--cookie-max-age",
            "60",
            "--no-cookie-http-only",
            "--allowed-origin",
            "http://a.test",
            "--allowed-origin",
            "https://b.test:8443",
        ])
        .unwrap();
        assert_eq!(cli.listen.len(), 2);
        assert_eq!(cli.tls_listen.len(), 1);
        assert_eq!(cli.cookie_same_site, Some(SameSiteArg::None));
        assert!(cli.cookie_secure && cli.no_cookie_http_only);
        assert_eq!(cli.cookie_max_age, Some(60));
        assert_eq!(cli.allowed_origin.len(), 2);
    }

    #[test]
    fn cookie_attributes_need_the_cookie() {
        let err = Cli::try_parse_from(["sockeye-chat", "--cookie-secure"]).unwrap_err();
        assert!(err.to_string().contains("--cookie"), "{err}");
        let err = Cli::try_parse_from(["sockeye-chat", "--tls-cert", "c.pem"]).unwrap_err();
        assert!(err.to_string().contains("--tls-key"), "{err}");
    }

    #[test]
    fn max_connections_per_ip_flag() {
        let cli = Cli::try_parse_from(["sockeye-chat"]).unwrap();
        assert_eq!(cli.max_connections_per_ip, None);
        let cli = Cli::try_parse_from(["sockeye-chat", "--max-connections-per-ip", "8"]).unwrap();
        assert_eq!(cli.max_connections_per_ip, Some(8));
        assert!(Cli::try_parse_from(["sockeye-chat", "--max-connections-per-ip", "0"]).is_err());
    }

    #[test]
    fn rate_limit_flags() {
        let cli = Cli::try_parse_from(["sockeye-chat"]).unwrap();
        assert!(cli.rate_limit().is_none());
        let cli = Cli::try_parse_from(["sockeye-chat", "--rate-limit", "5"]).unwrap();
        let limit = cli.rate_limit().unwrap();
        assert_eq!((limit.rate(), limit.burst_size()), (5.0, 10));
        let cli = Cli::try_parse_from(["sockeye-chat", "--rate-limit", "0.2/s"]).unwrap();
        assert_eq!(cli.rate_limit().unwrap().burst_size(), 1);
        let cli = Cli::try_parse_from([
            "sockeye-chat",
            "--rate-limit",
            "3",
            "--rate-limit-burst",
            "7",
        ])
        .unwrap();
        assert_eq!(cli.rate_limit().unwrap().burst_size(), 7);
        for bad in ["0", "-1", "x", "inf", "NaN", "5/m"] {
            let flag = format!("--rate-limit={bad}");
            let err = Cli::try_parse_from(["sockeye-chat", flag.as_str()]).unwrap_err();
            assert!(
                err.to_string().contains("events per second"),
                "{bad}: {err}"
            );
        }
        let err = Cli::try_parse_from(["sockeye-chat", "--rate-limit-burst", "3"]).unwrap_err();
        assert!(err.to_string().contains("--rate-limit"), "{err}");
        assert!(
            Cli::try_parse_from([
                "sockeye-chat",
                "--rate-limit",
                "1",
                "--rate-limit-burst",
                "0"
            ])
            .is_err()
        );
    }

    #[test]
    fn paths() {
        assert_eq!(normalize_path("/socket.io/").unwrap(), "/socket.io/");
        assert_eq!(normalize_path("chat").unwrap(), "/chat/");
        assert_eq!(normalize_path("/a/b").unwrap(), "/a/b/");
        assert!(normalize_path("/").is_err());
        assert!(normalize_path("").is_err());
        assert!(normalize_path("/a b/").is_err());
        assert!(normalize_path("/a\"b/").is_err());
        assert!(normalize_path("/a?b/").is_err());
    }

    #[test]
    fn origins() {
        assert!(check_origin("http://127.0.0.1:3000").is_ok());
        assert!(check_origin("https://chat.example.com").is_ok());
        assert!(check_origin("http://127.0.0.1:3000/").is_err());
        assert!(check_origin("127.0.0.1:3000").is_err());
        assert!(check_origin("https://").is_err());
    }
}
