//! Dynamic namespaces: [`ParentNamespace`] (a regex or a predicate over
//! the names clients ask for) and the children it creates, within the cap
//! of [`crate::SocketIoBuilder::max_dynamic_namespaces`].

use crate::error::EmitError;
use crate::namespace::{Boxed, ConnectError, Namespace};
use crate::server::ServerInner;
use crate::socket::Socket;
use crate::stats::Trip;
use parking_lot::RwLock;
use serde::Serialize;
use sockeye_proto::Str;
use sockeye_proto::sio::Value;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

/// Longest name a dynamic parent is asked about: a longer CONNECT name is
/// an invalid namespace (regexes and predicates never see megabyte names,
/// and 1,000 children cannot hold a gigabyte of names).
pub(crate) const MAX_DYNAMIC_NAME_LEN: usize = 1024;

pub(crate) type Predicate = Arc<dyn Fn(&str, &Value) -> Boxed<bool> + Send + Sync>;

pub(crate) enum Matcher {
    Regex(regex::Regex),
    Predicate(Predicate),
}

pub(crate) struct ParentInner {
    pub matcher: Matcher,
    pub template: Namespace,
    pub children: RwLock<Vec<Namespace>>,
}

/// Node's `ParentNamespace` (what `io.of(regex)` returns): a dynamic namespace: a matcher whose children (`/room-1`, `/room-2`...)
/// are created on first connect, each with the parent's connection handler
/// and middlewares.
#[derive(Clone)]
pub struct ParentNamespace(pub(crate) Arc<ParentInner>);

impl fmt::Debug for ParentNamespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParentNamespace")
            .field("children", &self.0.children.read().len())
            .finish()
    }
}

impl ParentNamespace {
    /// Node's `parentNsp.on("connection", ...)`: the connection handler of every child.
    pub fn on_connection<F, Fut>(&self, handler: F) -> &Self
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.0.template.on_connection(handler);
        self
    }

    /// Node's `parentNsp.use(...)`: a connect middleware of every child.
    pub fn use_middleware<F, Fut>(&self, middleware: F) -> &Self
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ConnectError>> + Send + 'static,
    {
        self.0.template.use_middleware(middleware);
        self
    }

    /// Node's `parentNsp.children`: the children created so far.
    pub fn children(&self) -> Vec<Namespace> {
        self.0.children.read().clone()
    }

    /// Node's `parentNsp.emit(ev, data)`: emits to every socket of every child.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        for child in self.children() {
            child.emit(event, data)?;
        }
        Ok(())
    }
}

/// Why a CONNECT found no namespace.
pub(crate) enum NoNamespace {
    /// No namespace has the name, and no dynamic parent matches it.
    Invalid,
    /// A dynamic parent matches, but the cap of dynamic namespaces is
    /// reached.
    TooMany,
}

impl ServerInner {
    /// The namespace a CONNECT names: an existing one, or a new child of the
    /// first dynamic parent that matches (while under the cap); with the
    /// [`JoinLease`] that keeps a child alive until the join is settled.
    pub async fn namespace_for(
        self: &Arc<Self>,
        name: &Str,
        auth: &Value,
    ) -> Result<(Namespace, JoinLease), NoNamespace> {
        {
            // The lease is taken under the map's lock: a reaper (holding
            // the write lock) sees it, or the child is not found.
            let namespaces = self.namespaces.read();
            if let Some(ns) = namespaces.get(name) {
                return Ok((ns.clone(), JoinLease::new(ns)));
            }
        }
        if name.len() > MAX_DYNAMIC_NAME_LEN {
            return Err(NoNamespace::Invalid);
        }
        let parents = self.parents.read().clone();
        for parent in parents {
            let matched = match &parent.0.matcher {
                Matcher::Regex(re) => re.is_match(name),
                Matcher::Predicate(p) => p(name, auth).await,
            };
            if matched {
                let cap = Some(self.config.max_dynamic_namespaces);
                return self
                    .create_child_leased(&parent, name, cap)
                    .ok_or(NoNamespace::TooMany);
            }
        }
        Err(NoNamespace::Invalid)
    }

    /// Whether `ns` is still the namespace registered under its name (a
    /// child removed meanwhile is not).
    pub(crate) fn is_current(&self, ns: &Namespace) -> bool {
        self.namespaces
            .read()
            .get(ns.name())
            .is_some_and(|cur| Arc::ptr_eq(&cur.0, &ns.0))
    }

    /// The child `name` of `parent`, created if needed, unless `cap`
    /// children of dynamic parents exist already. Server code passes no
    /// cap: its children are kept until they had a socket (see [`Joins`]).
    pub(crate) fn create_child(
        self: &Arc<Self>,
        parent: &ParentNamespace,
        name: &Str,
        cap: Option<usize>,
    ) -> Option<Namespace> {
        self.create_child_leased(parent, name, cap)
            .map(|(ns, _lease)| ns)
    }

    fn create_child_leased(
        self: &Arc<Self>,
        parent: &ParentNamespace,
        name: &Str,
        cap: Option<usize>,
    ) -> Option<(Namespace, JoinLease)> {
        let mut namespaces = self.namespaces.write();
        if let Some(ns) = namespaces.get(name) {
            if cap.is_none() {
                ns.0.joins.pin();
            }
            return Some((ns.clone(), JoinLease::new(ns)));
        }
        if cap.is_some_and(|cap| self.dynamic_count.load(Ordering::Acquire) >= cap) {
            self.config.stats.trip(Trip::NamespaceRefused);
            return None;
        }
        self.dynamic_count.fetch_add(1, Ordering::AcqRel);
        let child = Namespace::new(name.clone(), self.config.clone());
        if cap.is_none() {
            child.0.joins.pin();
        }
        child
            .0
            .on_connection
            .extend_from(&parent.0.template.0.on_connection);
        child
            .0
            .middlewares
            .extend_from(&parent.0.template.0.middlewares);
        let server = Arc::downgrade(self);
        let owner = parent.clone();
        let _ = child.0.on_empty.set(Box::new(move |ns: &Namespace| {
            if let Some(server) = server.upgrade() {
                server.reap(&owner, ns);
            }
        }));
        let lease = JoinLease::new(&child);
        namespaces.insert(name.clone(), child.clone());
        parent.0.children.write().push(child.clone());
        drop(namespaces);
        self.namespace_created(&child);
        Some((child, lease))
    }

    /// Removes the child `ns` of `parent` if nothing holds it: no socket, no
    /// join in flight, and either it never had a socket (a CONNECT refused
    /// by a middleware, or whose connection closed meanwhile) or
    /// [`crate::SocketIoBuilder::cleanup_empty_child_namespaces`] is on.
    /// Removal is by identity: a newer child of the same name stays.
    fn reap(&self, parent: &ParentNamespace, ns: &Namespace) {
        let joins = &ns.0.joins;
        {
            let mut namespaces = self.namespaces.write();
            let removable = match joins.state.load(Ordering::Acquire) {
                PROVISIONAL => true,
                JOINED => self.config.cleanup_empty_child_namespaces,
                _ => false,
            };
            if !removable || joins.pending.load(Ordering::Acquire) > 0 || ns.socket_count() > 0 {
                return;
            }
            match namespaces.get(ns.name()) {
                Some(cur) if Arc::ptr_eq(&cur.0, &ns.0) => {
                    namespaces.remove(ns.name());
                    self.dynamic_count.fetch_sub(1, Ordering::AcqRel);
                }
                _ => return,
            }
        }
        parent
            .0
            .children
            .write()
            .retain(|c| !Arc::ptr_eq(&c.0, &ns.0));
        ns.adapter().close();
    }
}

/// A child created by a client CONNECT that never had a socket.
const PROVISIONAL: u8 = 0;
/// A child created by server code ([`crate::SocketIo::of`]), before any
/// socket joined: never removed by a refused CONNECT.
const PINNED: u8 = 1;
/// A child that had a socket.
const JOINED: u8 = 2;

/// The join bookkeeping of a namespace (used by dynamic children only):
/// the CONNECTs in flight, and whether it ever had a socket.
#[derive(Debug, Default)]
pub(crate) struct Joins {
    pending: AtomicUsize,
    state: AtomicU8,
}

impl Joins {
    /// Server code holds the namespace: a refused CONNECT never removes it.
    pub(crate) fn pin(&self) {
        let _ =
            self.state
                .compare_exchange(PROVISIONAL, PINNED, Ordering::AcqRel, Ordering::Acquire);
    }

    /// A socket was added.
    pub(crate) fn joined(&self) {
        self.state.store(JOINED, Ordering::Release);
    }
}

/// A CONNECT in flight on a namespace: while it lives, a child namespace
/// is not removed. Dropped on every way out of the join (refused by a
/// middleware, connection closed, joined): a child left without a socket
/// is then removed (see `ServerInner::reap`), so refused CONNECTs do not
/// use up [`crate::SocketIoBuilder::max_dynamic_namespaces`].
pub(crate) struct JoinLease(Namespace);

impl JoinLease {
    fn new(ns: &Namespace) -> Self {
        ns.0.joins.pending.fetch_add(1, Ordering::AcqRel);
        JoinLease(ns.clone())
    }
}

impl Drop for JoinLease {
    fn drop(&mut self) {
        let ns = &self.0;
        if ns.0.joins.pending.fetch_sub(1, Ordering::AcqRel) == 1 && ns.socket_count() == 0 {
            if let Some(f) = ns.0.on_empty.get() {
                f(ns);
            }
        }
    }
}
