//! Cluster mode: the end of a hand-over window racing a close. The handler
//! gets `on_close` once and after `on_open` returned, or neither, and no
//! message after `on_close`.

mod common;

use common::*;
use sockeye_engine::serve::Server;
use sockeye_engine::{
    CloseReason, ClusterConfig, Engine, EngineConfig, EngineHandler, EngineService, MemoryHub,
    Message, Session,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Closes every session from inside `on_open`; records the callbacks.
#[derive(Default)]
struct ClosesOnOpen {
    events: Mutex<Vec<String>>,
}

impl ClosesOnOpen {
    fn log(&self, e: &str) {
        self.events.lock().unwrap().push(e.to_owned());
    }
    fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }
}

impl EngineHandler for ClosesOnOpen {
    fn on_open(&self, session: &Session) {
        self.log("open");
        session.close();
        self.log("open returned");
    }
    fn on_message(&self, _: &Session, _: Message) {
        self.log("message");
    }
    fn on_close(&self, _: &Session, _: CloseReason) {
        self.log("close");
    }
}

#[tokio::test]
async fn a_close_during_on_open_is_told_after_it_and_waiting_messages_are_dropped() {
    let hub = MemoryHub::new();
    let cluster = ClusterConfig::new(hub.join()).with_handover_window(Duration::from_millis(200));
    let handler = Arc::new(ClosesOnOpen::default());
    let engine = Engine::with_handler(
        EngineConfig::default().with_cluster(Some(cluster)),
        handler.clone(),
    )
    .expect("valid config");
    let server = Server::builder()
        .listen(LOCAL)
        .serve(EngineService::new(engine.clone()))
        .await
        .expect("server starts");
    let addr = server.local_addrs()[0].addr;
    let client = Polling::open(addr).await;
    // Waits in the window, unseen.
    client.post("4early").await.assert_ok();
    within("the window to end and the close to be told", async {
        while handler.events().len() < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(handler.events(), ["open", "open returned", "close"]);
}
