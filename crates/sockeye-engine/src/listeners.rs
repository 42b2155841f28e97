//! [`Listeners`]: a list of event listeners that can be added and removed
//! at any time, and [`ListenerId`], the handle that removes one.

use parking_lot::RwLock;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The handle of a registered listener, returned by every `on_*` method
/// that adds one (the engine's and the Socket.IO layer's); give it back to
/// the matching `off`/`remove_listener` method to remove that listener
/// (Node's `emitter.off(event, listener)`). Unique within the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerId(u64);

impl Default for ListenerId {
    fn default() -> Self {
        Self::new()
    }
}

impl ListenerId {
    /// A fresh id, never returned before in this process (for types that
    /// keep their listeners their own way).
    pub fn new() -> ListenerId {
        Self::next()
    }

    fn next() -> ListenerId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ListenerId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// A list of listeners of one event, as a Node `EventEmitter` keeps for one
/// event name.
///
/// Dispatching copies the list (a few `Arc`s) out of the lock and calls the
/// listeners without any lock held, so a listener may add or remove
/// listeners. [`Listeners::is_empty`] is one atomic load: an event nobody
/// listens to costs nothing else (the flag comes first, so that a struct
/// that puts its hot fields first can keep it next to them).
#[repr(C)]
pub struct Listeners<F: ?Sized> {
    /// Whether `list` has any listener (kept in step with it under the
    /// lock; read without it).
    any: AtomicBool,
    list: RwLock<Vec<(ListenerId, Arc<F>)>>,
}

impl<F: ?Sized> Default for Listeners<F> {
    fn default() -> Self {
        Listeners {
            list: RwLock::new(Vec::new()),
            any: AtomicBool::new(false),
        }
    }
}

impl<F: ?Sized> fmt::Debug for Listeners<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listeners")
            .field("count", &self.list.read().len())
            .finish()
    }
}

impl<F: ?Sized> Listeners<F> {
    /// Adds a listener after the others (Node's `on`).
    pub fn push(&self, f: Arc<F>) -> ListenerId {
        let id = ListenerId::next();
        let mut list = self.list.write();
        list.push((id, f));
        self.any.store(true, Ordering::Release);
        id
    }

    /// Adds a listener before the others (Node's `prependListener`).
    pub fn prepend(&self, f: Arc<F>) -> ListenerId {
        let id = ListenerId::next();
        let mut list = self.list.write();
        list.insert(0, (id, f));
        self.any.store(true, Ordering::Release);
        id
    }

    /// Removes one listener; `false` if it is not in this list.
    pub fn remove(&self, id: ListenerId) -> bool {
        let mut list = self.list.write();
        let before = list.len();
        list.retain(|(i, _)| *i != id);
        self.any.store(!list.is_empty(), Ordering::Release);
        list.len() != before
    }

    /// Adds every listener of `other` after these, with the same ids (a
    /// copy of a template's listeners).
    pub fn extend_from(&self, other: &Listeners<F>) {
        let copy: Vec<(ListenerId, Arc<F>)> = other.list.read().clone();
        let mut list = self.list.write();
        list.extend(copy);
        self.any.store(!list.is_empty(), Ordering::Release);
    }

    /// Removes every listener (Node's `removeAllListeners(event)`).
    pub fn clear(&self) {
        let mut list = self.list.write();
        list.clear();
        self.any.store(false, Ordering::Release);
    }

    /// Whether nobody listens (one atomic load).
    pub fn is_empty(&self) -> bool {
        !self.any.load(Ordering::Acquire)
    }

    /// The listeners now, in order, to call without the lock.
    pub fn snapshot(&self) -> Vec<Arc<F>> {
        if self.is_empty() {
            return Vec::new();
        }
        self.list.read().iter().map(|(_, f)| f.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Hook = dyn Fn(&mut Vec<u8>) + Send + Sync;

    #[test]
    fn push_prepend_remove_clear() {
        let l: Listeners<Hook> = Listeners::default();
        assert!(l.is_empty());
        let a = l.push(Arc::new(|v: &mut Vec<u8>| v.push(1)));
        let b = l.prepend(Arc::new(|v: &mut Vec<u8>| v.push(0)));
        assert_ne!(a, b);
        let mut out = Vec::new();
        for f in l.snapshot() {
            f(&mut out);
        }
        assert_eq!(out, [0, 1]);
        assert!(l.remove(b));
        assert!(!l.remove(b), "removed once");
        assert_eq!(l.snapshot().len(), 1);
        assert!(!l.is_empty());
        l.clear();
        assert!(l.is_empty());
        assert!(l.snapshot().is_empty());
    }

    #[test]
    fn a_listener_may_remove_itself_while_called() {
        let l: Arc<Listeners<dyn Fn() + Send + Sync>> = Arc::new(Listeners::default());
        let slot = Arc::new(parking_lot::Mutex::new(None));
        let (l2, slot2) = (l.clone(), slot.clone());
        let id = l.push(Arc::new(move || {
            if let Some(id) = *slot2.lock() {
                l2.remove(id);
            }
        }));
        *slot.lock() = Some(id);
        for f in l.snapshot() {
            f();
        }
        assert!(l.is_empty());
    }
}
