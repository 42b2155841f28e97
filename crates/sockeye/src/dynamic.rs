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
use std::sync::atomic::Ordering;

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

/// A dynamic namespace: a matcher whose children (`/room-1`, `/room-2`...)
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
    /// The connection handler of every child.
    pub fn on_connection<F, Fut>(&self, handler: F) -> &Self
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.0.template.on_connection(handler);
        self
    }

    /// A connect middleware of every child.
    pub fn use_middleware<F, Fut>(&self, middleware: F) -> &Self
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ConnectError>> + Send + 'static,
    {
        self.0.template.use_middleware(middleware);
        self
    }

    /// The children created so far.
    pub fn children(&self) -> Vec<Namespace> {
        self.0.children.read().clone()
    }

    /// Emits to every socket of every child.
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
    /// first dynamic parent that matches (while under the cap).
    pub async fn namespace_for(
        self: &Arc<Self>,
        name: &Str,
        auth: &Value,
    ) -> Result<Namespace, NoNamespace> {
        if let Some(ns) = self.namespaces.read().get(name).cloned() {
            return Ok(ns);
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
                    .create_child(&parent, name, cap)
                    .ok_or(NoNamespace::TooMany);
            }
        }
        Err(NoNamespace::Invalid)
    }

    /// The child `name` of `parent`, created if needed, unless `cap`
    /// children of dynamic parents exist already.
    pub(crate) fn create_child(
        self: &Arc<Self>,
        parent: &ParentNamespace,
        name: &Str,
        cap: Option<usize>,
    ) -> Option<Namespace> {
        let mut namespaces = self.namespaces.write();
        if let Some(ns) = namespaces.get(name) {
            return Some(ns.clone());
        }
        if cap.is_some_and(|cap| self.dynamic_count.load(Ordering::Acquire) >= cap) {
            self.config.stats.trip(Trip::NamespaceRefused);
            return None;
        }
        self.dynamic_count.fetch_add(1, Ordering::AcqRel);
        let child = Namespace::new(name.clone(), self.config.clone());
        *child.0.on_connection.write() = parent.0.template.0.on_connection.read().clone();
        *child.0.middlewares.write() = parent.0.template.0.middlewares.read().clone();
        if self.config.cleanup_empty_child_namespaces {
            let server = Arc::downgrade(self);
            let parent = parent.clone();
            let _ = child.0.on_empty.set(Box::new(move |ns: &Namespace| {
                if let Some(server) = server.upgrade() {
                    if server.namespaces.write().remove(ns.name()).is_some() {
                        server.dynamic_count.fetch_sub(1, Ordering::AcqRel);
                    }
                }
                parent.0.children.write().retain(|c| c.name() != ns.name());
                ns.adapter().close();
            }));
        }
        namespaces.insert(name.clone(), child.clone());
        parent.0.children.write().push(child.clone());
        Some(child)
    }
}
