//! Emits one event to the clients of every node through Redis, from a
//! process that serves none (the Rust [`sockeye_redis::Emitter`]):
//! `emit --redis URL [--room ROOM] --event NAME --data JSON`.
//! Exits 0 once published, 2 on bad arguments or when Redis is unreachable.

use sockeye_redis::Emitter;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut redis = "redis://127.0.0.1:6379".to_owned();
    let (mut room, mut event, mut data) = (None, "message".to_owned(), "null".to_owned());
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let Some(value) = it.next() else {
            eprintln!("emit: {flag} needs a value");
            std::process::exit(2);
        };
        match flag.as_str() {
            "--redis" => redis = value,
            "--room" => room = Some(value),
            "--event" => event = value,
            "--data" => data = value,
            other => {
                eprintln!("emit: unknown flag {other}");
                std::process::exit(2);
            }
        }
    }
    let data: serde_json::Value = match serde_json::from_str(&data) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("emit: --data is not JSON: {e}");
            std::process::exit(2);
        }
    };
    let emitter = match Emitter::connect(&redis).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("emit: {e}");
            std::process::exit(2);
        }
    };
    let emitter = match room {
        Some(r) => emitter.to(r),
        None => emitter,
    };
    if let Err(e) = emitter.emit(&event, &data).await {
        eprintln!("emit: {e}");
        std::process::exit(2);
    }
}
