//! `sockeye-chat`: the Sockeye chat server. See `sockeye-chat --help` and
//! examples/chat/README.md.

mod admin;
mod assets;
mod chat;
mod cli;
mod cluster;
mod ops;
#[cfg(test)]
mod rate_limit_tests;
mod state;
mod web;

use clap::Parser as _;
use cli::{AdapterArg, Cli, SameSiteArg};
use sockeye::SocketIo;
use sockeye::engine::{
    AllowedOrigins, ClusterConfig, CookieConfig, CorsConfig, OriginPolicy, SameSite, Transports,
};
use sockeye::serve::{Server, TlsConfig};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tower_layer::Layer as _;
use tracing::{info, warn};

/// How long the Socket.IO layer waits for clients to collect their
/// disconnect at shutdown, and then the HTTP server for open requests.
const SOCKETS_GRACE: Duration = Duration::from_secs(2);
const HTTP_GRACE: Duration = Duration::from_secs(2);

fn main() -> ExitCode {
    let cli = Cli::parse();
    ops::init_logging(cli.ops.log_format);
    // Before anything binds: without the client bundle the page cannot
    // work, and the user gets the one thing to do (exit code 2).
    let client_dist = match assets::find_client_dist(cli.client_dist.as_deref()) {
        Ok(dist) => dist,
        Err(e) => {
            eprintln!("sockeye-chat: error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    // Exit code 2: the cluster cannot be joined (bad URL, Redis down).
    let cluster = match runtime.block_on(connect_cluster(&cli)) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("sockeye-chat: error: {message}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli, client_dist, cluster)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(&message),
    }
}

/// What `--redis` gives: the adapters' factory and a connection for the
/// chat's shared state.
struct Cluster {
    adapters: sockeye::adapter::AdapterFactory,
    store: redis::aio::ConnectionManager,
    /// Sessions served from any node (unless `--no-forwarding`).
    bus: Option<std::sync::Arc<sockeye_redis::RedisBus>>,
    /// Whether Redis answers, and its outages, for the metrics.
    redis_health: RedisProbe,
}

type RedisProbe = std::sync::Arc<dyn Fn() -> sockeye_metrics::RedisHealth + Send + Sync>;

/// The metrics' view of a Redis adapter factory.
macro_rules! redis_probe {
    ($f:expr) => {{
        let f = $f.clone();
        std::sync::Arc::new(move || sockeye_metrics::RedisHealth {
            up: f.is_connected(),
            outages: f.outages(),
        }) as RedisProbe
    }};
}

/// Joins the cluster when `--redis` is given; a malformed or unreachable
/// URL fails within the connect timeout.
async fn connect_cluster(cli: &Cli) -> Result<Option<Cluster>, String> {
    let Some(url) = &cli.redis else {
        return Ok(None);
    };
    let (adapters, redis_health) = match cli.adapter {
        AdapterArg::Redis => {
            let mut config = sockeye_redis::RedisAdapterConfig::default();
            if cli.recovery {
                config = config.recovery(recovery_config());
            }
            sockeye_redis::RedisAdapterFactory::connect(url, config)
                .await
                .map(|f| (f.factory(), redis_probe!(f)))
        }
        AdapterArg::RedisSharded => {
            let mut config = sockeye_redis::ShardedAdapterConfig::default();
            if cli.recovery {
                config = config.recovery(recovery_config());
            }
            sockeye_redis::ShardedAdapterFactory::connect(url, config)
                .await
                .map(|f| (f.factory(), redis_probe!(f)))
        }
        AdapterArg::RedisStreams => {
            let mut config = sockeye_redis::StreamsAdapterConfig::default();
            if cli.recovery {
                config = config.recovery(recovery_config());
            }
            sockeye_redis::StreamsAdapterFactory::connect(url, config)
                .await
                .map(|f| (f.factory(), redis_probe!(f)))
        }
    }
    .map_err(|e| format!("--redis {url}: {e}"))?;
    let client = redis::Client::open(url.as_str()).map_err(|e| format!("--redis {url}: {e}"))?;
    let store = tokio::time::timeout(Duration::from_secs(3), client.get_connection_manager())
        .await
        .map_err(|_| format!("--redis {url}: no answer within 3 s"))?
        .map_err(|e| format!("--redis {url}: {e}"))?;
    let bus = if cli.no_forwarding {
        None
    } else {
        let bus = sockeye_redis::RedisBus::connect(url, sockeye_redis::RedisBusConfig::default())
            .await
            .map_err(|e| format!("--redis {url}: {e}"))?;
        Some(bus)
    };
    info!(%url, adapter = ?cli.adapter, forwarding = bus.is_some(), "cluster node on Redis");
    Ok(Some(Cluster {
        adapters,
        store,
        bus,
        redis_health,
    }))
}

/// `--recovery`: sessions kept 2 minutes.
fn recovery_config() -> sockeye::RecoveryConfig {
    sockeye::RecoveryConfig::default().with_max_disconnection_duration(Duration::from_secs(120))
}

fn fail(message: &str) -> ExitCode {
    eprintln!("sockeye-chat: error: {message}");
    ExitCode::FAILURE
}

/// The cookie options of the command line, `None` without `--cookie`.
fn cookie_config(cli: &Cli) -> Option<CookieConfig> {
    let name = cli.cookie.as_ref()?;
    let mut cookie = CookieConfig::default()
        .with_name(name.clone())
        .with_secure(cli.cookie_secure)
        .with_partitioned(cli.cookie_partitioned)
        .with_http_only(!cli.no_cookie_http_only);
    if let Some(path) = &cli.cookie_path {
        cookie = cookie.with_path(Some(path.clone()));
    }
    if let Some(domain) = &cli.cookie_domain {
        cookie = cookie.with_domain(domain.clone());
    }
    if let Some(same_site) = cli.cookie_same_site {
        cookie = cookie.with_same_site(Some(match same_site {
            SameSiteArg::Strict => SameSite::Strict,
            SameSiteArg::Lax => SameSite::Lax,
            SameSiteArg::None => SameSite::None,
        }));
    }
    if let Some(secs) = cli.cookie_max_age {
        cookie = cookie.with_max_age(Duration::from_secs(secs));
    }
    Some(cookie)
}

/// The certificate of the HTTPS listeners: the given files, or a fresh
/// self-signed one for localhost.
fn tls_config(cli: &Cli) -> Result<TlsConfig, String> {
    if let (Some(cert), Some(key)) = (&cli.tls_cert, &cli.tls_key) {
        return TlsConfig::from_pem_files(cert, key).map_err(|e| e.to_string());
    }
    let names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let generated = rcgen::generate_simple_self_signed(names)
        .map_err(|e| format!("cannot generate a self-signed certificate: {e}"))?;
    warn!(
        "no --tls-cert given: generated a self-signed certificate for localhost, 127.0.0.1 \
         and ::1 (browsers will warn about it; pass --tls-cert and --tls-key to use your own)"
    );
    TlsConfig::from_pem(
        generated.cert.pem().as_bytes(),
        generated.signing_key.serialize_pem().as_bytes(),
    )
    .map_err(|e| e.to_string())
}

async fn run(cli: Cli, client_dist: PathBuf, cluster: Option<Cluster>) -> Result<(), String> {
    // Before anything is printed: a signal that comes right after the
    // `listening on` lines must find the handlers in place.
    let signals = Signals::install()?;
    let path = cli::normalize_path(&cli.path)?;
    let transports =
        Transports::parse(&cli.transports).map_err(|e| format!("--transports: {e}"))?;
    let transport_names: Vec<&str> = [
        (transports.polling, "polling"),
        (transports.websocket, "websocket"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    for origin in &cli.allowed_origin {
        cli::check_origin(origin)?;
    }
    let cookie = cookie_config(&cli);
    let (cors, origin_policy) = if cli.allowed_origin.is_empty() {
        (None, None)
    } else {
        let origins = || AllowedOrigins::list(cli.allowed_origin.iter().cloned());
        (
            // Credentials, so that the cookie works on cross-origin polling.
            Some(CorsConfig::new(origins()).with_credentials(true)),
            Some(OriginPolicy::new(origins()).with_allow_missing(true)),
        )
    };

    let mut io_builder = SocketIo::builder();
    if cli.recovery {
        io_builder = io_builder.connection_state_recovery(recovery_config());
    }
    if let Some(c) = &cluster {
        io_builder = io_builder.adapter(c.adapters.clone());
    }
    if let Some(limit) = cli.rate_limit() {
        io_builder = io_builder.rate_limit(limit);
    }
    let forwarding = cluster
        .as_ref()
        .and_then(|c| c.bus.clone())
        .map(|bus| ClusterConfig::new(bus as std::sync::Arc<dyn sockeye::engine::ClusterBus>))
        .map(|c| match &cli.cluster_secret {
            Some(secret) => c.with_secret(secret),
            None => c,
        });
    io_builder = io_builder.metrics(cli.ops.metrics_on());
    let io = io_builder
        .path(path.clone())
        .serve_client(&client_dist)
        .engine(|c| {
            c.with_cluster(forwarding)
                .with_transports(transports)
                .with_cookie(cookie)
                .with_cors(cors)
                .with_origin_policy(origin_policy)
                .with_max_connections_per_address(cli.max_connections_per_ip.map(|n| n as usize))
        })
        .build()
        .map_err(|e| e.to_string())?;
    let version = assets::dist_version(&client_dist);
    if version.as_deref() != Some(assets::pinned_client_version()) {
        warn!(
            found = version.as_deref().unwrap_or("unknown"),
            pinned = assets::pinned_client_version(),
            "the socket.io-client bundle is not the version the chat's package.json pins"
        );
    }
    let exporter = cli.ops.metrics_on().then(|| {
        std::sync::Arc::new(match &cluster {
            Some(c) => {
                let probe = c.redis_health.clone();
                sockeye_metrics::Exporter::with_redis(&io, move || probe())
            }
            None => sockeye_metrics::Exporter::new(&io),
        })
    });
    let (_admin_ui, admin_files) = match cli.ops.admin.admin_ui {
        true => {
            let mut listeners = cli.listen.clone();
            listeners.extend(&cli.tls_listen);
            let auth = cli.ops.admin.auth(&listeners)?;
            let files =
                admin::AdminFiles::load(cli.ops.admin.admin_ui_dist.as_deref(), &client_dist)?;
            let ui = sockeye_admin_ui::instrument(&io, sockeye_admin_ui::AdminUiOptions::new(auth))
                .map_err(|e| e.to_string())?;
            (Some(ui), Some(std::sync::Arc::new(files)))
        }
        false => (None, None),
    };
    match cluster {
        Some(c) => cluster::install(&io, c.store),
        None => chat::install(&io),
    }

    let mut builder = Server::builder().shutdown_timeout(HTTP_GRACE);
    for addr in &cli.listen {
        builder = builder.listen(*addr);
    }
    if !cli.tls_listen.is_empty() {
        let tls = tls_config(&cli)?;
        for addr in &cli.tls_listen {
            builder = builder.listen_tls(*addr, tls.clone());
        }
    }
    let mut web = web::Web::new(&path, &transport_names).with_admin(admin_files);
    let mut metrics_server = None;
    match (&exporter, cli.ops.metrics_listen) {
        (Some(e), Some(addr)) => {
            let only = web::Web::metrics_only(e.clone());
            let server = Server::builder().listen(addr).serve(only).await;
            metrics_server = Some(server.map_err(|e| format!("--metrics-listen {addr}: {e}"))?);
        }
        (Some(e), None) => web = web.with_metrics(e.clone()),
        _ => {}
    }
    let service = io.layer().layer(web);
    let server = builder.serve(service).await.map_err(|e| e.to_string())?;

    {
        let mut out = std::io::stdout().lock();
        for bound in server.local_addrs() {
            let scheme = if bound.tls { "https" } else { "http" };
            let _ = writeln!(out, "listening on {scheme}://{}", bound.addr);
        }
        for bound in metrics_server.iter().flat_map(|m| m.local_addrs()) {
            let _ = writeln!(out, "metrics on http://{}", bound.addr);
        }
        let _ = out.flush();
    }
    info!(
        path = %path,
        transports = %transport_names.join(","),
        cookie = cli.cookie.as_deref().unwrap_or("off"),
        allowed_origins = %if cli.allowed_origin.is_empty() { "any".to_owned() } else { cli.allowed_origin.join(",") },
        client_dist = %client_dist.display(),
        rate_limit = %cli.rate_limit().map_or("off".to_owned(), |l| format!("{}/s, burst {}", l.rate(), l.burst_size())),
        "chat ready: open the address above in two browser tabs"
    );

    let signal = signals.recv().await;
    info!("{signal}: shutting down (telling connected clients)");
    info!(stats = ?io.stats(), "bounds and rate limits tripped since start");
    if io.engine().node_tag().is_some() {
        info!(cluster = ?io.engine().stats().cluster(), "forwarding between nodes since start");
    }
    io.close(SOCKETS_GRACE).await;
    if let Some(m) = &metrics_server {
        m.shutdown();
    }
    server.shutdown();
    let outcome = server.wait().await;
    info!(?outcome, "stopped");
    Ok(())
}

/// SIGINT and SIGTERM, caught from the moment they are installed.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Self, String> {
        use tokio::signal::unix::{SignalKind, signal};
        let err = |e: std::io::Error| format!("cannot install the signal handlers: {e}");
        Ok(Signals {
            term: signal(SignalKind::terminate()).map_err(err)?,
            int: signal(SignalKind::interrupt()).map_err(err)?,
        })
    }

    /// Waits for either and names it.
    async fn recv(mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}
