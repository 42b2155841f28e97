//! Event handlers and the values they take ("extractors").
//!
//! A handler is an async closure taking the [`Socket`] and up to three
//! extractors, in the shapes people write in JavaScript:
//!
//! ```
//! # use sockeye::{Socket, Data, Args, AckSender};
//! # fn register(socket: &Socket) {
//! socket.on("ping", |socket: Socket| async move { let _ = socket.emit("pong", &()); });
//! socket.on("chat", |_s: Socket, Data(text): Data<String>| async move { println!("{text}"); });
//! socket.on("add", |_s: Socket, Args((a, b)): Args<(i64, i64)>, ack: AckSender| async move {
//!     let _ = ack.send(&(a + b));
//! });
//! # }
//! ```
//!
//! When a payload does not match the handler's types, the handler is not
//! called: a `tracing` warning names the event and the error, and the
//! socket's error handler (see [`Socket::on_error`]) is told.

use crate::socket::Socket;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use sockeye_proto::Str;
use sockeye_proto::sio::{Payload, PayloadError, Value, from_value};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed future returned by handlers.
pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// What a received event carries, before extraction.
#[derive(Debug, Clone)]
pub struct EventParts {
    /// The event name (shares the packet's buffer).
    pub event: Str,
    /// The arguments after the event name, still in wire format.
    pub args: Vec<Payload>,
    /// Binary attachments referenced by the arguments.
    pub attachments: Arc<[Bytes]>,
    /// The acknowledgement id, when the client asked for one.
    pub ack_id: Option<u64>,
    /// Set once any handler answered the ack: every handler of one event
    /// shares it, so the client's callback runs at most once.
    pub(crate) acked: Arc<std::sync::atomic::AtomicBool>,
}

impl EventParts {
    /// The arguments as dynamic values (binary placeholders resolved).
    pub fn values(&self) -> Result<Vec<Value>, PayloadError> {
        self.args
            .iter()
            .map(|a| a.to_value(&self.attachments))
            .collect()
    }
}

/// Why extracting a handler argument failed.
pub type ExtractError = PayloadError;

/// A value a handler can take, built from the event.
pub trait FromEvent: Sized + Send + 'static {
    /// Builds the value.
    fn from_event(socket: &Socket, parts: &EventParts) -> Result<Self, ExtractError>;
}

/// The first argument of the event, deserialized (`null` when absent).
#[derive(Debug, Clone, PartialEq)]
pub struct Data<T>(pub T);

impl<T: DeserializeOwned + Send + 'static> FromEvent for Data<T> {
    fn from_event(_socket: &Socket, parts: &EventParts) -> Result<Self, ExtractError> {
        match parts.args.first() {
            Some(first) => first.deserialize(&parts.attachments).map(Data),
            None => from_value(Value::Null).map(Data),
        }
    }
}

/// Every argument of the event, deserialized as one sequence: a tuple
/// `Args<(String, u32)>` for `emit("ev", "a", 1)`, or `Args<Vec<Value>>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Args<T>(pub T);

impl<T: DeserializeOwned + Send + 'static> FromEvent for Args<T> {
    fn from_event(_socket: &Socket, parts: &EventParts) -> Result<Self, ExtractError> {
        from_value(Value::Array(parts.values()?)).map(Args)
    }
}

/// The event's name (useful in catch-all handlers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event(pub String);

impl FromEvent for Event {
    fn from_event(_socket: &Socket, parts: &EventParts) -> Result<Self, ExtractError> {
        Ok(Event(parts.event.to_string()))
    }
}

pub use crate::ack::AckSender;

impl FromEvent for AckSender {
    fn from_event(socket: &Socket, parts: &EventParts) -> Result<Self, ExtractError> {
        Ok(AckSender::new(
            socket.clone(),
            parts.ack_id,
            parts.acked.clone(),
        ))
    }
}

/// A type-erased event handler.
pub(crate) trait ErasedHandler: Send + Sync + 'static {
    fn call(&self, socket: Socket, parts: EventParts) -> Result<BoxFuture, ExtractError>;
}

/// An async function usable as an event handler; `T` lists its extractor
/// types. Implemented for closures `Fn(Socket, ..) -> impl Future` with up
/// to three [`FromEvent`] arguments.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an event handler",
    note = "a handler is an async closure `|socket: Socket, ...| async move {{ .. }}` taking up to three extractors such as `Data<T>`, `Args<T>`, `AckSender`"
)]
pub trait EventHandler<T>: Send + Sync + 'static {
    #[doc(hidden)]
    fn call(&self, socket: Socket, parts: EventParts) -> Result<BoxFuture, ExtractError>;
}

impl<F, Fut> EventHandler<()> for F
where
    F: Fn(Socket) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn call(&self, socket: Socket, _parts: EventParts) -> Result<BoxFuture, ExtractError> {
        Ok(Box::pin(self(socket)))
    }
}

macro_rules! handler_arity {
    ($($ty:ident),+) => {
        impl<F, Fut, $($ty),+> EventHandler<($($ty,)+)> for F
        where
            F: Fn(Socket, $($ty),+) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = ()> + Send + 'static,
            $($ty: FromEvent,)+
        {
            #[allow(non_snake_case)]
            fn call(&self, socket: Socket, parts: EventParts) -> Result<BoxFuture, ExtractError> {
                $(let $ty = $ty::from_event(&socket, &parts)?;)+
                Ok(Box::pin(self(socket, $($ty),+)))
            }
        }
    };
}

handler_arity!(A);
handler_arity!(A, B);
handler_arity!(A, B, C);

pub(crate) struct Erased<H, T> {
    handler: H,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<H: EventHandler<T>, T: 'static> ErasedHandler for Erased<H, T> {
    fn call(&self, socket: Socket, parts: EventParts) -> Result<BoxFuture, ExtractError> {
        self.handler.call(socket, parts)
    }
}

pub(crate) fn erase<H: EventHandler<T>, T: 'static>(handler: H) -> Arc<dyn ErasedHandler> {
    Arc::new(Erased {
        handler,
        _t: std::marker::PhantomData,
    })
}

/// Polls `fut` once here, and spawns it on the runtime only if it has to
/// wait: most handlers finish without waiting, and then cost no task.
///
/// The first poll uses a no-op waker: a future that returns `Pending` is
/// polled again by its task right away, and by the `Future` contract only
/// the waker of the latest poll counts.
///
/// A panic in that first poll is caught here, as tokio catches one in a
/// task: the future is dropped, the connection carries on. (It runs on the
/// stack of the connection's I/O loop or HTTP request, which must not
/// unwind.) Code before a handler's first `.await` runs on the connection's
/// own task: a long synchronous computation there delays that connection's
/// next packets (never other connections' on a multi-threaded runtime);
/// move it to `spawn_blocking`.
pub(crate) fn run_now_or_spawn(mut fut: BoxFuture) {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let polled =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.as_mut().poll(&mut cx)));
    match polled {
        Ok(std::task::Poll::Ready(())) => {}
        Ok(std::task::Poll::Pending) => {
            tokio::spawn(fut);
        }
        Err(_) => tracing::error!("a handler panicked; its future was dropped"),
    }
}

/// Runs a handler: its future is polled once here, and spawned on the
/// runtime only if it has to wait (a handler that waits never holds up
/// other sockets or later packets, and one that finishes at once, as most
/// do, costs no task; see [`run_now_or_spawn`]).
pub(crate) fn run(handler: &dyn ErasedHandler, socket: Socket, parts: EventParts) {
    let event = parts.event.clone();
    match handler.call(socket.clone(), parts) {
        Ok(fut) => run_now_or_spawn(fut),
        Err(e) => {
            tracing::warn!(sid = %socket.id(), event = %event, error = %e, "event payload does not match the handler");
            socket.report_error(crate::socket::SocketError::Payload {
                event: event.to_string(),
                error: e,
            });
        }
    }
}
