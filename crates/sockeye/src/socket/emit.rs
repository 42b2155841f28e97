//! Emitting from a socket, and waiting for acknowledgements.

use super::*;
use crate::activity::Event;

impl Socket {
    // ----- emitting -------------------------------------------------------

    /// Node's `socket.emit(ev, data)`: emits an event with one argument.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        self.emit_args(event, (data,))
    }

    /// Node's `socket.emit(ev, ...args)`: emits an event with several arguments, given as a tuple (`()` for
    /// none).
    pub fn emit_args<A: IntoArgs>(&self, event: &str, args: A) -> Result<(), EmitError> {
        if self.0.ns.recovery().is_some() {
            // With recovery, a direct emit goes through the adapter to the
            // socket's own room, so that it gets an offset and is recorded.
            if !self.connected() {
                return Err(EmitError::Disconnected);
            }
            let mut opts = sockeye_adapter::BroadcastOptions::default();
            opts.rooms.push(self.0.id.room());
            return self.0.ns.broadcast_event(&opts, event, &args);
        }
        let packet = self.encode_event(event, &args, None)?;
        self.send_encoded(&packet)
    }

    /// Node's `socket.emitWithAck(ev, data)` (and `socket.emit(ev, data,
    /// callback)`): emits an event and waits for the client's
    /// acknowledgement, for at most the namespace's ack timeout. `R` reads
    /// the first argument (any deserializable type) or every argument
    /// ([`crate::Args`]); see [`crate::FromAck`].
    pub async fn emit_with_ack<T: Serialize + ?Sized, R: FromAck>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<R, AckError> {
        let timeout = self.0.ns.ack_timeout();
        self.timeout(timeout).emit_with_ack(event, data).await
    }

    /// Node's `socket.timeout(ms)`: flags for the next emit: a timeout for its acknowledgement.
    pub fn timeout(&self, timeout: Duration) -> SocketEmitter<'_> {
        SocketEmitter {
            socket: self,
            timeout: Some(timeout),
            volatile: false,
        }
    }

    /// Node's `socket.volatile`: flags for the next emit: dropped if the transport cannot take it now.
    pub fn volatile(&self) -> SocketEmitter<'_> {
        SocketEmitter {
            socket: self,
            timeout: None,
            volatile: true,
        }
    }

    /// Sends a `message` event (JavaScript's `socket.send`).
    pub fn send<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), EmitError> {
        self.emit("message", data)
    }

    pub(crate) fn encode_event<A: IntoArgs + ?Sized>(
        &self,
        event: &str,
        args: &A,
        id: Option<u64>,
    ) -> Result<BroadcastPacket, EmitError> {
        encode_event(self.parser(), self.0.ns.name(), event, args, id)
    }

    pub(crate) fn send_encoded(&self, packet: &BroadcastPacket) -> Result<(), EmitError> {
        if !self.connected() {
            return Err(EmitError::Disconnected);
        }
        if self.0.has_any_outgoing() {
            self.notify_outgoing(packet);
        }
        self.0
            .session
            .send_frames(frames(packet))
            .map_err(|e| match e {
                SendError::QueueFull => EmitError::QueueFull,
                _ => EmitError::Disconnected,
            })
    }

    /// Decodes the packet back into its event name and arguments for the
    /// outgoing catch-alls (only when there are any).
    fn notify_outgoing(&self, packet: &BroadcastPacket) {
        let mut decoder = self.parser().decoder();
        let mut decoded = None;
        for p in packet.encoded.eio_packets() {
            if let Ok(Some(d)) = decoder.decode(p) {
                decoded = Some(d);
            }
        }
        // Events only: not the answers to the client's acks.
        let Some(decoded) = decoded.filter(|d| d.kind.plain() == PacketKind::Event) else {
            return;
        };
        let Some(data) = decoded.data.as_ref() else {
            return;
        };
        let Ok((name, args)) = data.split_event() else {
            return;
        };
        let args: Vec<Value> = match args
            .iter()
            .map(|a| a.to_value(&decoded.attachments))
            .collect()
        {
            Ok(args) => args,
            Err(e) => {
                tracing::debug!(error = %e, "outgoing event not readable for the catch-alls");
                return;
            }
        };
        let Some(extras) = self.0.extras_if_any() else {
            return;
        };
        for h in extras.any_outgoing.snapshot() {
            h(self, &name, &args);
        }
    }

    pub(crate) async fn emit_with_ack_inner<A: IntoArgs + ?Sized, R: FromAck>(
        &self,
        event: &str,
        args: &A,
        timeout: Duration,
    ) -> Result<R, AckError> {
        let id = self.0.ns.next_ack_id();
        let (tx, rx) = oneshot::channel();
        {
            let mut acks = self.0.acks.lock();
            if acks.len() >= self.0.ns.max_pending_acks() {
                drop(acks);
                if self.trip(crate::stats::Trip::AckRefused) {
                    tracing::warn!(sid = %self.0.id, "emit with ack refused: too many pending acknowledgements");
                }
                return Err(AckError::TooManyPending);
            }
            acks.insert(id, AckSlot::One(tx));
        }
        let sent = self
            .encode_event(event, args, Some(id))
            .and_then(|p| self.send_encoded(&p));
        if let Err(e) = sent {
            self.0.acks.lock().remove(&id);
            return Err(e.into());
        }
        let config = &self.0.ns.0.config;
        config.count(Event::AckSent, 1);
        let reply = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => return Err(AckError::Disconnected),
            Err(_) => {
                self.0.acks.lock().remove(&id);
                config.count(Event::AckTimedOut, 1);
                return Err(AckError::Timeout);
            }
        };
        config.count(Event::AckAnswered, 1);
        reply.read()
    }

    pub(crate) fn on_ack(&self, id: u64, reply: AckReply) {
        let slot = self.0.acks.lock().remove(&id);
        match slot {
            Some(AckSlot::One(tx)) => {
                let _ = tx.send(reply);
            }
            Some(AckSlot::Many(tx)) => {
                let _ = tx.send((self.0.id.clone(), reply));
            }
            None => tracing::debug!(sid = %self.0.id, id, "ack for an unknown id ignored"),
        }
    }
}

/// The Engine.IO frames of an encoded packet, in order: the head (the
/// shared `4`-prefixed text, or the msgpack binary), then its attachments.
pub(crate) fn frames(packet: &BroadcastPacket) -> impl Iterator<Item = Frame> + '_ {
    let head = match &packet.eio_text {
        Some(text) => Frame::Encoded(text.clone()),
        None => match &packet.encoded.head {
            sockeye_proto::eio::Packet::Binary(b) => Frame::Binary(b.clone()),
            other => Frame::Encoded(other.encode_text()),
        },
    };
    std::iter::once(head).chain(
        packet
            .encoded
            .attachments
            .iter()
            .cloned()
            .map(Frame::Binary),
    )
}
