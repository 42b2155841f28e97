//! `polling_idle --n 2500`: long-polling sessions between two polls. Each is opened (handshake, CONNECT to `/`) on its own
//! keep-alive HTTP connection, which stays open with no request pending, as
//! a browser's does between polls; RSS per session. Then every session is
//! closed (`1`).

use super::{kb_per, label, measured, settle};
use crate::ctx::Ctx;
use crate::poll::{Http, open_session};
use crate::procfs::Meter;
use serde_json::{Value, json};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::spawn_local;

type Opened = Rc<RefCell<Vec<(Http, String)>>>;

/// Opens `n` sessions, at most `ctx.in_flight` at once.
async fn open_many(ctx: &Ctx, n: usize) -> (Vec<(Http, String)>, usize, Option<String>) {
    let sem = Arc::new(Semaphore::new(ctx.in_flight));
    let out: Opened = Rc::new(RefCell::new(Vec::new()));
    let errors: Rc<RefCell<(usize, Option<String>)>> = Rc::new(RefCell::new((0, None)));
    for _ in 0..n {
        let permit = sem.clone().acquire_owned().await.expect("semaphore");
        let (target, src) = (ctx.target, ctx.next_src());
        let (out, errors) = (out.clone(), errors.clone());
        spawn_local(async move {
            let r = async {
                let mut http = Http::connect(target, src).await?;
                let path = open_session(&mut http).await?;
                Ok::<_, std::io::Error>((http, path))
            }
            .await;
            drop(permit);
            match r {
                Ok(s) => out.borrow_mut().push(s),
                Err(e) => {
                    let mut errors = errors.borrow_mut();
                    errors.0 += 1;
                    errors.1.get_or_insert(e.to_string());
                }
            }
        });
    }
    let _all = sem
        .acquire_many(ctx.in_flight as u32)
        .await
        .expect("semaphore");
    let opened = std::mem::take(&mut *out.borrow_mut());
    let (failed, first) = errors.borrow_mut().clone();
    (opened, failed, first)
}

pub async fn polling_idle(ctx: &Ctx, n: usize) -> Value {
    // Warm-up, as in `idle`.
    let (warm, _, _) = open_many(ctx, 100.min(n)).await;
    settle(300).await;
    let rss0 = ctx.rss().unwrap_or(0) as i64;
    let meter = Meter::start(ctx.pid);
    let (sessions, failed, err) = open_many(ctx, n).await;
    let m = meter.stop();
    settle(1000).await;
    let rss1 = ctx.rss().unwrap_or(0) as i64;
    let ok = sessions.len();
    for (mut http, path) in sessions.into_iter().chain(warm) {
        let _ = http.post(&path, b"1").await;
    }
    json!([{
        "name": format!("polling_idle_{}", label(n)),
        "sessions": ok,
        "failures": failed,
        "first_error": err,
        "rss_per_session_kb": kb_per(rss1 - rss0, ok),
        "cpu_per_session_us": m.server_cpu * 1e6 / ok.max(1) as f64,
        "measure": measured(&m),
    }])
}
