//! The outage and recovery logs of [`Health`].

use super::Health;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Collects what the subscriber writes.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::ErrorKind::Other)?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn an_outage_and_its_recovery_are_logged_once_each() {
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let health = Health::new();
        health.worked();
        for _ in 0..100 {
            health.failed("publish", &"connection refused");
        }
        assert!(!health.is_up());
        for _ in 0..100 {
            health.worked();
        }
        health.failed("ping", &"connection refused");
        health.worked();
    });
    let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    assert_eq!(text.matches("Redis unreachable").count(), 2, "{text}");
    assert_eq!(text.matches("Redis reachable again").count(), 2, "{text}");
}
