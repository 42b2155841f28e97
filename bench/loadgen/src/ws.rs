//! A minimal WebSocket client (RFC 6455) for the load generator: one text
//! frame per Engine.IO packet, masked client frames, unfragmented server
//! frames, reads in large chunks so that many frames cost one syscall.
//! Engine.IO pings (`2`) are answered (`3`) inside [`Ws::next`].

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A fixed key is fine: the server only hashes it.
const KEY: &str = "c29ja2V5ZS1iZW5jaC1reQ==";

/// Opens a TCP connection, from `src` (port chosen by the kernel) if given.
pub async fn tcp_connect(target: SocketAddr, src: Option<Ipv4Addr>) -> io::Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    if let Some(ip) = src {
        sock.set_reuseaddr(true)?;
        bind_address_no_port(&sock);
        sock.bind(SocketAddr::from((ip, 0)))?;
    }
    let s = sock.connect(target).await?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// IP_BIND_ADDRESS_NO_PORT: the port of a socket bound to an address is
/// chosen at connect time, by the whole 4-tuple, so the ports still in
/// TIME_WAIT towards earlier servers do not have to be searched past.
fn bind_address_no_port(sock: &TcpSocket) {
    use std::os::fd::AsRawFd;
    let one: libc::c_int = 1;
    // SAFETY: setsockopt on a socket we own, with a c_int option value.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

pub struct Ws {
    s: TcpStream,
    buf: Vec<u8>,
    head: usize,
    rng: u32,
}

/// Payload bounds inside the read buffer, valid until the next `next`.
#[derive(Clone, Copy)]
pub struct Span(usize, usize);

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_owned())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Ws {
    pub async fn connect(target: SocketAddr, src: Option<Ipv4Addr>, path: &str) -> io::Result<Ws> {
        let mut s = tcp_connect(target, src).await?;
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {target}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await?;
        let mut buf = Vec::with_capacity(1024);
        let end = loop {
            if s.read_buf(&mut buf).await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed during the WebSocket handshake",
                ));
            }
            if let Some(p) = find(&buf, b"\r\n\r\n") {
                break p + 4;
            }
            if buf.len() > 16 * 1024 {
                return Err(bad("WebSocket handshake response too large"));
            }
        };
        if !buf.starts_with(b"HTTP/1.1 101") {
            let line =
                String::from_utf8_lossy(&buf[..find(&buf, b"\r\n").unwrap_or(end)]).into_owned();
            return Err(bad(&format!("WebSocket handshake refused: {line}")));
        }
        buf.drain(..end);
        let rng = (target.port() as u32) << 16 | (buf.len() as u32 + 0x9e37);
        Ok(Ws {
            s,
            buf,
            head: 0,
            rng,
        })
    }

    fn next_mask(&mut self) -> [u8; 4] {
        // xorshift32
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng = x;
        x.to_le_bytes()
    }

    fn frame(&mut self, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::with_capacity(payload.len() + 14);
        f.push(0x80 | opcode);
        let n = payload.len();
        if n < 126 {
            f.push(0x80 | n as u8);
        } else if n < 65536 {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
        let mask = self.next_mask();
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
        f
    }

    /// Sends one text frame.
    pub async fn send(&mut self, payload: &[u8]) -> io::Result<()> {
        let f = self.frame(0x1, payload);
        self.s.write_all(&f).await
    }

    /// A short control reply written without waiting (keeps `next` cancel
    /// safe); a tiny frame fits in any socket buffer that is not full.
    fn reply_now(&mut self, opcode: u8, payload: &[u8]) {
        let f = self.frame(opcode, payload);
        let _ = self.s.try_write(&f);
    }

    /// One complete frame at `head`: (fin+opcode byte, payload span, frame length).
    fn parse(&self) -> Option<(u8, Span, usize)> {
        let b = &self.buf[self.head..];
        if b.len() < 2 {
            return None;
        }
        let masked = b[1] & 0x80 != 0;
        let (len, mut off) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
            127 if b.len() >= 10 => (u64::from_be_bytes(b[2..10].try_into().ok()?) as usize, 10),
            126 | 127 => return None,
            n => (n as usize, 2),
        };
        if masked {
            off += 4;
        }
        if b.len() < off + len {
            return None;
        }
        Some((
            b[0],
            Span(self.head + off, self.head + off + len),
            off + len,
        ))
    }

    /// The next Engine.IO packet (text or binary frame); `None` once closed.
    pub async fn next(&mut self) -> io::Result<Option<Span>> {
        loop {
            while let Some((b0, span, len)) = self.parse() {
                self.head += len;
                match b0 & 0x0f {
                    0x1 | 0x2 => {
                        if &self.buf[span.0..span.1] == b"2" {
                            self.reply_now(0x1, b"3");
                            continue;
                        }
                        return Ok(Some(span));
                    }
                    0x8 => return Ok(None),
                    0x9 => {
                        let payload = self.buf[span.0..span.1].to_vec();
                        self.reply_now(0xA, &payload);
                    }
                    _ => {}
                }
            }
            if self.head == self.buf.len() {
                self.buf.clear();
                self.head = 0;
            } else if self.head > 0 {
                self.buf.drain(..self.head);
                self.head = 0;
            }
            self.buf.reserve(4096);
            if self.s.read_buf(&mut self.buf).await? == 0 {
                return Ok(None);
            }
        }
    }

    pub fn data(&self, span: Span) -> &[u8] {
        &self.buf[span.0..span.1]
    }

    /// Waits for a packet starting with `prefix`, skipping others; counts
    /// `tick` events seen meanwhile.
    pub async fn wait_for(
        &mut self,
        prefix: &[u8],
        ticks: &std::cell::Cell<u64>,
    ) -> io::Result<()> {
        loop {
            let Some(span) = self.next().await? else {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed",
                ));
            };
            let d = self.data(span);
            if d.starts_with(prefix) {
                return Ok(());
            }
            if d.starts_with(TICK) {
                ticks.set(ticks.get() + 1);
            }
            if d.starts_with(b"44") {
                return Err(bad(&format!(
                    "CONNECT refused: {}",
                    String::from_utf8_lossy(d)
                )));
            }
        }
    }
}

/// The prefix of a broadcast event.
pub const TICK: &[u8] = b"42[\"tick\"";

/// A Socket.IO v5 connection over WebSocket: the Engine.IO open packet,
/// then CONNECT to `/` and its answer.
pub async fn sio_connect(target: SocketAddr, src: Option<Ipv4Addr>) -> io::Result<Ws> {
    let mut ws = Ws::connect(target, src, "/socket.io/?EIO=4&transport=websocket").await?;
    let none = std::cell::Cell::new(0);
    ws.wait_for(b"0", &none).await?;
    ws.send(b"40").await?;
    ws.wait_for(b"40", &none).await?;
    Ok(ws)
}
