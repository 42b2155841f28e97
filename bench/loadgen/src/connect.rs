//! Connection setup: many Socket.IO connections at once (at most
//! `in_flight` connecting), over WebSocket or by polling then upgrade, and
//! held open counting `tick`s.

use crate::ctx::Ctx;
use crate::poll;
use crate::ws::{TICK, Ws, sio_connect};
use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::spawn_local;

/// Keeps a connection open: answers pings, counts `tick` events.
pub async fn hold(mut ws: Ws, ticks: Rc<Cell<u64>>) {
    while let Ok(Some(span)) = ws.next().await {
        if ws.data(span).starts_with(TICK) {
            ticks.set(ticks.get() + 1);
        }
    }
}

/// Opens `count` Socket.IO connections, at most `in_flight` connecting at
/// once. Returns the connections and the failures (with the first error).
pub async fn connect_many(ctx: &Ctx, count: usize) -> (Vec<Ws>, usize, Option<String>) {
    connect_many_as(ctx, count, false).await
}

/// The next nickname (`user-1`, `user-2`...): what the chat keeps in a
/// socket's data.
fn next_nick() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    format!("user-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// [`connect_many`]; with `nick`, each connection then sends
/// `42["nick","user-N"]`, which the bench servers keep in the socket's data
/// (as the chat keeps its users' nicknames).
pub async fn connect_many_as(
    ctx: &Ctx,
    count: usize,
    nick: bool,
) -> (Vec<Ws>, usize, Option<String>) {
    let sem = Arc::new(Semaphore::new(ctx.in_flight));
    let out: Rc<RefCell<Vec<Ws>>> = Rc::new(RefCell::new(Vec::with_capacity(count)));
    let failures = Rc::new(Cell::new(0usize));
    let first_error: Rc<RefCell<Option<String>>> = Rc::new(RefCell::new(None));
    for _ in 0..count {
        let permit = sem.clone().acquire_owned().await.expect("semaphore");
        let (target, src) = (ctx.target, ctx.next_src());
        let (out, failures, first_error) = (out.clone(), failures.clone(), first_error.clone());
        spawn_local(async move {
            let open = async {
                let mut ws = sio_connect(target, src).await?;
                if nick {
                    let frame = format!("42[\"nick\",\"{}\"]", next_nick());
                    ws.send(frame.as_bytes()).await?;
                }
                Ok::<_, io::Error>(ws)
            };
            let r = tokio::time::timeout(Duration::from_secs(60), open).await;
            drop(permit);
            match r {
                Ok(Ok(ws)) => out.borrow_mut().push(ws),
                Ok(Err(e)) => {
                    failures.set(failures.get() + 1);
                    first_error
                        .borrow_mut()
                        .get_or_insert_with(|| e.to_string());
                }
                Err(_) => {
                    failures.set(failures.get() + 1);
                    first_error
                        .borrow_mut()
                        .get_or_insert_with(|| "connect timed out".into());
                }
            }
        });
    }
    let _all = sem
        .acquire_many(ctx.in_flight as u32)
        .await
        .expect("semaphore");
    let conns = std::mem::take(&mut *out.borrow_mut());
    let e = first_error.borrow_mut().take();
    (conns, failures.get(), e)
}

/// Connects `count` and keeps them open with [`hold`].
pub async fn connect_and_hold(ctx: &Ctx, count: usize) -> (usize, usize, Option<String>) {
    connect_and_hold_as(ctx, count, false).await
}

/// [`connect_and_hold`], each with a nickname when `nick` (see
/// [`connect_many_as`]).
pub async fn connect_and_hold_as(
    ctx: &Ctx,
    count: usize,
    nick: bool,
) -> (usize, usize, Option<String>) {
    let (conns, failures, e) = connect_many_as(ctx, count, nick).await;
    let ok = conns.len();
    for ws in conns {
        spawn_local(hold(ws, ctx.ticks.clone()));
    }
    (ok, failures, e)
}

/// `n` sessions opened by polling and upgraded to WebSocket, at most
/// `in_flight` at once; then one broadcast checks that every one is live.
pub async fn upgrade_sessions(ctx: &Ctx, n: usize) -> (Vec<Ws>, usize, Option<String>) {
    let sem = Arc::new(Semaphore::new(ctx.in_flight));
    let out: Rc<RefCell<Vec<Ws>>> = Rc::new(RefCell::new(Vec::new()));
    let failures = Rc::new(Cell::new(0usize));
    let first_error: Rc<RefCell<Option<String>>> = Rc::new(RefCell::new(None));
    for _ in 0..n {
        let permit = sem.clone().acquire_owned().await.expect("semaphore");
        let (target, s1, s2) = (ctx.target, ctx.next_src(), ctx.next_src());
        let (out, failures, first_error) = (out.clone(), failures.clone(), first_error.clone());
        spawn_local(async move {
            let r = tokio::time::timeout(
                Duration::from_secs(60),
                poll::polling_then_upgrade(target, s1, s2),
            )
            .await
            .unwrap_or_else(|_| Err(io::Error::other("upgrade timed out")));
            drop(permit);
            match r {
                Ok(ws) => out.borrow_mut().push(ws),
                Err(e) => {
                    failures.set(failures.get() + 1);
                    first_error.borrow_mut().get_or_insert(e.to_string());
                }
            }
        });
    }
    let _all = sem
        .acquire_many(ctx.in_flight as u32)
        .await
        .expect("semaphore");
    let conns = std::mem::take(&mut *out.borrow_mut());
    let e = first_error.borrow_mut().take();
    (conns, failures.get(), e)
}
