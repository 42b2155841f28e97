//! Shared fixtures of the engine's integration tests: a real server on
//! 127.0.0.1 (port 0), a recording and echoing handler, and real clients
//! (hyper 1 for HTTP, tokio-tungstenite for WebSocket).
//!
//! Tests wait for events (handler callbacks, requests parked in the engine,
//! frames), never for time: every await below is wrapped in a timeout only
//! as a safety net.

#![allow(dead_code, missing_debug_implementations, unreachable_pub)]

mod client_http;
mod client_ws;

// Not every test file uses both clients.
#[allow(unused_imports)]
pub use client_http::*;
#[allow(unused_imports)]
pub use client_ws::*;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use sockeye_engine::serve::{Server, ServerBuilder, ServerHandle};
use sockeye_engine::{
    CloseReason, Engine, EngineConfig, EngineHandler, EngineService, Message, Session,
    TransportKind,
};
use tokio::sync::mpsc;
use tower_service::Service;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Any free port on the loopback interface.
pub const LOCAL: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

/// The safety net around every await: far above what any step needs.
pub const WAIT: Duration = Duration::from_secs(5);

/// Awaits `f`, failing the test if it takes longer than [`WAIT`].
pub async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(WAIT, f).await {
        Ok(out) => out,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

// ------------------------------------------------------------------ handler

/// What the test handler saw.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Open {
        sid: String,
        transport: TransportKind,
        secure: bool,
    },
    Message {
        sid: String,
        message: Message,
    },
    Close {
        sid: String,
        reason: CloseReason,
    },
}

/// A message whose handler call blocks its thread until [`release`]: a
/// slow application handler.
pub const HOLD_MESSAGE: &str = "hold-the-handler";

/// A message whose handler call panics: a buggy application handler.
pub const PANIC_MESSAGE: &str = "panic-in-the-handler";

static HELD: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
static HOLD_CV: std::sync::Condvar = std::sync::Condvar::new();

static HOLDING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many handler calls [`HOLD_MESSAGE`] has held so far.
pub fn holding() -> usize {
    HOLDING.load(std::sync::atomic::Ordering::Acquire)
}

fn hold() {
    HOLDING.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    let mut released = HELD.lock().unwrap();
    while !*released {
        released = HOLD_CV.wait(released).unwrap();
    }
}

/// Lets every handler call held by [`HOLD_MESSAGE`] return (and later ones
/// pass at once).
pub fn release() {
    *HELD.lock().unwrap() = true;
    HOLD_CV.notify_all();
}

/// Records every event through a channel and (optionally) echoes messages.
pub struct Recorder {
    tx: mpsc::UnboundedSender<Event>,
    sessions: Mutex<HashMap<String, Session>>,
    echo: bool,
}

impl EngineHandler for Recorder {
    fn on_open(&self, session: &Session) {
        let sid = session.sid().as_str().to_owned();
        self.sessions
            .lock()
            .unwrap()
            .insert(sid.clone(), session.clone());
        let _ = self.tx.send(Event::Open {
            sid,
            transport: session.transport(),
            secure: session.request().secure,
        });
    }

    fn on_message(&self, session: &Session, message: Message) {
        if matches!(&message, Message::Text(t) if t.as_str() == HOLD_MESSAGE) {
            hold();
        }
        if matches!(&message, Message::Text(t) if t.as_str() == PANIC_MESSAGE) {
            panic!("the handler panics on {PANIC_MESSAGE}");
        }
        if self.echo {
            let _ = session.send_many([message.clone()]);
        }
        let _ = self.tx.send(Event::Message {
            sid: session.sid().as_str().to_owned(),
            message,
        });
    }

    fn on_close(&self, session: &Session, reason: CloseReason) {
        let _ = self.tx.send(Event::Close {
            sid: session.sid().as_str().to_owned(),
            reason,
        });
    }
}

/// The receiving end of the handler's events. Events skipped by one wait
/// stay available for the next.
pub struct Events {
    rx: mpsc::UnboundedReceiver<Event>,
    backlog: VecDeque<Event>,
}

impl Events {
    /// The first event (in arrival order) that `pred` accepts.
    pub async fn wait_for(&mut self, what: &str, mut pred: impl FnMut(&Event) -> bool) -> Event {
        if let Some(i) = self.backlog.iter().position(&mut pred) {
            return self.backlog.remove(i).expect("index in range");
        }
        let (rx, backlog) = (&mut self.rx, &mut self.backlog);
        within(what, async {
            loop {
                let e = rx.recv().await.expect("the handler is gone");
                if pred(&e) {
                    return e;
                }
                backlog.push_back(e);
            }
        })
        .await
    }

    /// The next session opened: its sid.
    pub async fn opened(&mut self) -> String {
        match self
            .wait_for("a session to open", |e| matches!(e, Event::Open { .. }))
            .await
        {
            Event::Open { sid, .. } => sid,
            _ => unreachable!(),
        }
    }

    /// The open event of this session.
    pub async fn open_event(&mut self, sid: &str) -> Event {
        self.wait_for(
            "the session to open",
            |e| matches!(e, Event::Open { sid: s, .. } if s == sid),
        )
        .await
    }

    /// The next message of this session.
    pub async fn message(&mut self, sid: &str) -> Message {
        match self
            .wait_for(
                "a message",
                |e| matches!(e, Event::Message { sid: s, .. } if s == sid),
            )
            .await
        {
            Event::Message { message, .. } => message,
            _ => unreachable!(),
        }
    }

    /// Why this session closed.
    pub async fn closed(&mut self, sid: &str) -> CloseReason {
        match self
            .wait_for(
                "the session to close",
                |e| matches!(e, Event::Close { sid: s, .. } if s == sid),
            )
            .await
        {
            Event::Close { reason, .. } => reason,
            _ => unreachable!(),
        }
    }

    /// Every event received so far and not consumed, without waiting.
    pub fn pending(&mut self) -> Vec<Event> {
        while let Ok(e) = self.rx.try_recv() {
            self.backlog.push_back(e);
        }
        self.backlog.iter().cloned().collect()
    }

    /// Fails if this session has been reported closed.
    #[track_caller]
    pub fn assert_open(&mut self, sid: &str) {
        let closed = self
            .pending()
            .into_iter()
            .find(|e| matches!(e, Event::Close { sid: s, .. } if s == sid));
        assert_eq!(closed, None, "session {sid} must still be open");
    }
}

// ------------------------------------------------------------ parked probe

/// A service wrapper that reports every request whose first poll did not
/// finish (a GET waiting for packets, a POST reading its body): once it is
/// reported, the engine has registered it. Lets tests order concurrent
/// requests without sleeping.
#[derive(Clone)]
pub struct Parked<S> {
    inner: S,
    tx: mpsc::UnboundedSender<String>,
}

impl<S, B> Service<Request<B>> for Parked<S>
where
    S: Service<Request<B>> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let uri = req.uri().to_string();
        let mut fut = Box::pin(self.inner.call(req));
        let tx = self.tx.clone();
        let mut reported = false;
        Box::pin(std::future::poll_fn(move |cx| {
            let poll = fut.as_mut().poll(cx);
            if poll.is_pending() && !std::mem::replace(&mut reported, true) {
                let _ = tx.send(uri.clone());
            }
            poll
        }))
    }
}

/// Reports of requests parked in the engine, by URI.
pub struct ParkedRx {
    rx: mpsc::UnboundedReceiver<String>,
    backlog: Vec<String>,
}

impl ParkedRx {
    /// Waits until a request whose URI contains `marker` is parked.
    pub async fn wait(&mut self, marker: &str) {
        if let Some(i) = self.backlog.iter().position(|u| u.contains(marker)) {
            self.backlog.remove(i);
            return;
        }
        let (rx, backlog) = (&mut self.rx, &mut self.backlog);
        within(&format!("a parked request with {marker}"), async {
            loop {
                let uri = rx.recv().await.expect("server gone");
                if uri.contains(marker) {
                    return;
                }
                backlog.push(uri);
            }
        })
        .await
    }
}

// ------------------------------------------------------------------ server

/// A running server with its engine and the handler's events.
pub struct TestServer {
    pub addr: SocketAddr,
    pub engine: Engine,
    pub events: Events,
    pub parked: ParkedRx,
    pub handle: ServerHandle,
    recorder: Arc<Recorder>,
}

/// A recording engine, not yet served.
pub fn engine(config: EngineConfig, echo: bool) -> (Engine, Events, Arc<Recorder>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let recorder = Arc::new(Recorder {
        tx,
        sessions: Mutex::new(HashMap::new()),
        echo,
    });
    let engine = Engine::with_handler(config, recorder.clone()).expect("valid config");
    (
        engine,
        Events {
            rx,
            backlog: VecDeque::new(),
        },
        recorder,
    )
}

impl TestServer {
    /// An echoing engine alone on a plain HTTP listener.
    pub async fn start(config: EngineConfig) -> Self {
        Self::start_full(
            Server::builder().listen(LOCAL),
            config,
            true,
            EngineService::new,
        )
        .await
    }

    /// Like [`TestServer::start`], without echo.
    pub async fn start_silent(config: EngineConfig) -> Self {
        Self::start_full(
            Server::builder().listen(LOCAL),
            config,
            false,
            EngineService::new,
        )
        .await
    }

    /// The engine wrapped by `make`, served by `builder`'s first listener.
    pub async fn start_full<S, B>(
        builder: ServerBuilder,
        config: EngineConfig,
        echo: bool,
        make: impl FnOnce(Engine) -> S,
    ) -> Self
    where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError> + Send + 'static,
        S::Response: Send + 'static,
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (engine, events, recorder) = engine(config, echo);
        let (tx, rx) = mpsc::unbounded_channel();
        let service = Parked {
            inner: make(engine.clone()),
            tx,
        };
        let handle = builder.serve(service).await.expect("server starts");
        let addr = handle.local_addrs()[0].addr;
        TestServer {
            addr,
            engine,
            events,
            parked: ParkedRx {
                rx,
                backlog: Vec::new(),
            },
            handle,
            recorder,
        }
    }

    /// The open session with this sid (as seen by the handler).
    pub fn session(&self, sid: &str) -> Session {
        self.recorder
            .sessions
            .lock()
            .unwrap()
            .get(sid)
            .cloned()
            .expect("session was opened")
    }

    /// Whether the engine still knows this sid.
    pub fn knows(&self, sid: &str) -> bool {
        sid.parse()
            .ok()
            .and_then(|sid| self.engine.session(sid))
            .is_some()
    }
}
