//! `polling --concurrency 50,200 --duration 4`: long-polling sessions
//! (handshake, connect, echo, close) back to back on keep-alive HTTP
//! connections; sessions/s, requests/s, server CPU per request.

use super::{measured, settle};
use crate::cli::{Args, arg, list};
use crate::ctx::Ctx;
use crate::poll;
use crate::procfs::Meter;
use serde_json::{Value, json};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::task::spawn_local;

async fn polling_phase(ctx: &Ctx, workers: usize, duration: Duration) -> Value {
    let sessions = Rc::new(Cell::new(0u64));
    let requests = Rc::new(Cell::new(0u64));
    let errors = Rc::new(Cell::new(0u64));
    let first_error: Rc<RefCell<Option<String>>> = Rc::new(RefCell::new(None));
    let meter = Meter::start(ctx.pid);
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (target, src) = (ctx.target, ctx.next_src());
        let (sessions, requests, errors, first_error) = (
            sessions.clone(),
            requests.clone(),
            errors.clone(),
            first_error.clone(),
        );
        tasks.push(spawn_local(async move {
            let mut http = None;
            while Instant::now() < deadline {
                if http.is_none() {
                    match poll::Http::connect(target, src).await {
                        Ok(h) => http = Some(h),
                        Err(e) => {
                            errors.set(errors.get() + 1);
                            first_error.borrow_mut().get_or_insert(e.to_string());
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    }
                }
                let h = http.as_mut().expect("connected");
                let before = h.requests;
                match poll::session(h).await {
                    Ok(r) => {
                        sessions.set(sessions.get() + 1);
                        requests.set(requests.get() + r);
                    }
                    Err(e) => {
                        requests.set(requests.get() + (h.requests - before));
                        errors.set(errors.get() + 1);
                        first_error.borrow_mut().get_or_insert(e.to_string());
                        http = None;
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let m = meter.stop();
    let (s, r) = (sessions.get(), requests.get());
    let e = first_error.borrow_mut().take();
    json!({
        "name": format!("polling_{workers}"),
        "concurrency": workers,
        "sessions": s,
        "requests": r,
        "errors": errors.get(),
        "first_error": e,
        "sessions_per_s": s as f64 / m.wall,
        "requests_per_s": r as f64 / m.wall,
        "cpu_per_request_us": m.server_cpu * 1e6 / r.max(1) as f64,
        "measure": measured(&m),
    })
}

pub async fn polling(ctx: &Ctx, args: &Args) -> Value {
    let duration = Duration::from_secs_f64(arg(args, "duration", 4.0));
    let mut phases = Vec::new();
    for c in list(args, "concurrency", "50,200") {
        phases.push(polling_phase(ctx, c, duration).await);
        settle(300).await;
    }
    json!(phases)
}
