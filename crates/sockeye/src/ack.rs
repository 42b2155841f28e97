//! Acknowledgements: answering a client's ack, and waiting for a client's.

use crate::args::{AckArgs, IntoArgs};
use crate::error::{AckError, EmitError};
use crate::handler::Args;
use crate::id::SocketId;
use crate::socket::Socket;
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sockeye_proto::sio::{PacketKind, Payload, PayloadError, Value, from_value};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Node's acknowledgement callback (the last argument of a listener,
/// `socket.on("ev", (data, callback) => ...)`): answers the client's
/// acknowledgement; the extractor for
/// handlers of events sent with a callback (`socket.emit("ev", data, cb)`).
///
/// Sending consumes it, so an ack is answered at most once. When the client
/// did not ask for an ack, sending does nothing.
#[derive(Debug)]
pub struct AckSender {
    socket: Socket,
    id: Option<u64>,
    acked: Arc<std::sync::atomic::AtomicBool>,
}

impl AckSender {
    pub(crate) fn new(
        socket: Socket,
        id: Option<u64>,
        acked: Arc<std::sync::atomic::AtomicBool>,
    ) -> Self {
        AckSender { socket, id, acked }
    }

    /// Whether the client is waiting for an answer.
    pub fn is_expected(&self) -> bool {
        self.id.is_some()
    }

    /// Answers with one argument (`cb(data)` in JavaScript).
    pub fn send<T: Serialize + ?Sized>(self, data: &T) -> Result<(), EmitError> {
        self.send_args((data,))
    }

    /// Answers with several arguments, given as a tuple.
    pub fn send_args<A: IntoArgs>(self, args: A) -> Result<(), EmitError> {
        let Some(id) = self.id else { return Ok(()) };
        if self.acked.swap(true, std::sync::atomic::Ordering::AcqRel) {
            // Another handler of this event answered already.
            return Ok(());
        }
        let nsp = self.socket.namespace().name().clone();
        let encoded = self.socket.parser().encode_with(
            PacketKind::Ack,
            &nsp,
            Some(id),
            Some(&AckArgs(&args)),
        )?;
        self.socket
            .send_encoded(&sockeye_adapter::BroadcastPacket::new(encoded))
    }
}

/// How the arguments of a client's acknowledgement are read: the `R` of
/// every `emit_with_ack` ([`Socket::emit_with_ack`],
/// [`crate::BroadcastOperator::emit_with_ack`],
/// [`crate::RemoteSocket::emit_with_ack`]...).
///
/// * Any deserializable type reads the **first** argument (`null` when
///   there is none), as Node's `emitWithAck` resolves with: `callback(5,
///   {test: true})` on the client gives `5` as `u32`.
/// * [`Args<T>`](crate::Args) reads **every** argument as one sequence, as
///   Node's callback form (`socket.emit("ev", data, (a, b) => ...)`) gets
///   them: `Args<(u32, Value)>` gives `(5, {test: true})`, and
///   `Args<Vec<Value>>` any number of raw values (binary ones included).
pub trait FromAck: Sized + Send + 'static {
    /// Builds the value from the acknowledgement's arguments.
    fn from_ack(args: Vec<Value>) -> Result<Self, PayloadError>;
}

impl<T: DeserializeOwned + Send + 'static> FromAck for T {
    fn from_ack(args: Vec<Value>) -> Result<Self, PayloadError> {
        first_arg(args)
    }
}

/// The first argument as `T` (`null` when there is none).
fn first_arg<T: DeserializeOwned>(args: Vec<Value>) -> Result<T, PayloadError> {
    from_value(args.into_iter().next().unwrap_or(Value::Null))
}

impl<T: DeserializeOwned + Send + 'static> FromAck for Args<T> {
    fn from_ack(args: Vec<Value>) -> Result<Self, PayloadError> {
        from_value(Value::Array(args)).map(Args)
    }
}

/// An acknowledgement received from a client: its arguments.
#[derive(Debug, Clone)]
pub struct AckReply {
    pub(crate) data: Option<Payload>,
    pub(crate) attachments: Arc<[Bytes]>,
}

impl AckReply {
    /// Reads the first argument as `T` (`null` when there is none).
    pub fn first<T: DeserializeOwned>(&self) -> Result<T, AckError> {
        Ok(first_arg(self.values()?)?)
    }

    /// Reads the arguments as `R` (see [`FromAck`]).
    pub fn read<R: FromAck>(&self) -> Result<R, AckError> {
        Ok(R::from_ack(self.values()?)?)
    }

    /// Every argument, as dynamic values.
    pub fn values(&self) -> Result<Vec<Value>, AckError> {
        match &self.data {
            None => Ok(Vec::new()),
            Some(p) => match p.to_value(&self.attachments)? {
                Value::Array(v) => Ok(v),
                other => Ok(vec![other]),
            },
        }
    }
}

/// Who waits for an acknowledgement id on one socket.
#[derive(Debug)]
pub(crate) enum AckSlot {
    /// One emit's future.
    One(oneshot::Sender<AckReply>),
    /// A broadcast collecting answers from many sockets.
    Many(mpsc::UnboundedSender<(SocketId, AckReply)>),
}
