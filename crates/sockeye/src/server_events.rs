//! Server-level listeners: Node's `io.on("new_namespace", ...)`, and
//! removing any listener by its handle.

use crate::namespace::Namespace;
use crate::server::{ServerInner, SocketIo};
use sockeye_engine::{ListenerId, Listeners};
use std::sync::Arc;

/// A listener of [`SocketIo::on_new_namespace`].
pub(crate) type NewNamespaceFn = dyn Fn(&Namespace) + Send + Sync;

impl ServerInner {
    /// Tells the `new_namespace` listeners (no lock held; never for `/`,
    /// which exists before any listener, as in the reference).
    pub(crate) fn namespace_created(&self, ns: &Namespace) {
        for f in self.new_namespace.snapshot() {
            f(ns);
        }
    }
}

impl SocketIo {
    /// Node's `io.on("new_namespace", (nsp) => ...)`: called with each
    /// namespace created after the call, by [`SocketIo::of`] or as the child
    /// of a dynamic namespace (before its first socket connects). Called
    /// synchronously, with no lock held: register the namespace's own
    /// listeners there (its room events, connection handler...), and do not
    /// block. Returns the handle that [`SocketIo::remove_listener`] takes.
    pub fn on_new_namespace(&self, f: impl Fn(&Namespace) + Send + Sync + 'static) -> ListenerId {
        let f: Arc<NewNamespaceFn> = Arc::new(f);
        self.0.new_namespace.push(f)
    }

    /// Every namespace of the server now (`/`, those made by
    /// [`SocketIo::of`], children of dynamic namespaces), as Node's
    /// `io._nsps`: with [`SocketIo::on_new_namespace`], a way to reach every
    /// namespace (the templates of dynamic parents are not listed).
    pub fn namespaces(&self) -> Vec<Namespace> {
        self.0.namespaces.read().values().cloned().collect()
    }

    /// Removes a listener by the handle its `on_*` method returned (Node's
    /// `off` / `removeListener`): one of the server
    /// ([`SocketIo::on_new_namespace`]), of its engine
    /// ([`sockeye_engine::Engine::on_connection_error`]...) or of any of its
    /// namespaces (see [`Namespace::remove_listener`]). `false` if no such
    /// listener is registered.
    pub fn remove_listener(&self, id: ListenerId) -> bool {
        if self.0.new_namespace.remove(id) || self.engine().remove_listener(id) {
            return true;
        }
        // Children of a dynamic namespace share its template's ids: removed
        // from the template (future children) and from every child.
        let templates: Vec<Namespace> = self
            .0
            .parents
            .read()
            .iter()
            .map(|p| p.0.template.clone())
            .collect();
        self.namespaces()
            .iter()
            .chain(templates.iter())
            .fold(false, |found, ns| ns.remove_listener(id) | found)
    }
}

/// The server's own listener lists.
pub(crate) type NewNamespaceListeners = Listeners<NewNamespaceFn>;

#[cfg(test)]
mod tests {
    use crate::SocketIo;
    use sockeye_adapter::{LocalNamespace, ServerSideAck};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_server_side_listener_is_removed_by_its_event() {
        let io = SocketIo::builder().build().unwrap();
        let ns = io.of("/");
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        ns.on_server_side("ev", move |args| {
            assert_eq!(args, vec![serde_json::json!(1)]);
            c.fetch_add(1, Ordering::Relaxed);
        });
        let from_other_node = || {
            ns.0.on_server_side_emit(
                vec![serde_json::json!("ev"), serde_json::json!(1)],
                ServerSideAck::none(),
            )
        };
        from_other_node();
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        assert!(ns.off_server_side("ev"));
        assert!(!ns.off_server_side("ev"));
        from_other_node();
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    }
}
