//! [`HandlerTable`]: a socket's event handlers by event name, sized for
//! the few handlers a socket has.

use crate::handler::ErasedHandler;
use std::sync::Arc;

/// The longest event name kept inline (without an allocation of its own).
const INLINE: usize = 22;

/// Up to this many handlers, the list grows one slot at a time (a few
/// reallocations at connect time), then by doubling.
const EXACT_UP_TO: usize = 8;

/// An event name: inline when short (most are), else on the heap.
enum Key {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl Key {
    fn new(name: String) -> Key {
        if name.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..name.len()].copy_from_slice(name.as_bytes());
            Key::Inline {
                len: name.len() as u8,
                bytes,
            }
        } else {
            Key::Heap(name.into_boxed_str())
        }
    }

    fn is(&self, name: &str) -> bool {
        match self {
            Key::Inline { len, bytes } => &bytes[..usize::from(*len)] == name.as_bytes(),
            Key::Heap(s) => **s == *name,
        }
    }
}

/// A socket's event handlers, one per event name, in a list searched in
/// order: a socket has a handful (the chat six), for which a scan of short
/// names costs less than hashing one, and the list takes 40 bytes a
/// handler (names up to 22 bytes inline) where a `HashMap<String, _>`
/// took a table of 8 buckets and an allocation per name.
#[derive(Default)]
pub(crate) struct HandlerTable(Vec<(Key, Arc<dyn ErasedHandler>)>);

impl HandlerTable {
    /// Sets the handler of `event`, replacing an earlier one.
    pub fn insert(&mut self, event: String, handler: Arc<dyn ErasedHandler>) {
        match self.0.iter_mut().find(|(k, _)| k.is(&event)) {
            Some(slot) => slot.1 = handler,
            None => {
                // Exact growth while small: 5 handlers take 5 slots, not 8.
                if self.0.len() < EXACT_UP_TO {
                    self.0.reserve_exact(1);
                }
                self.0.push((Key::new(event), handler))
            }
        }
    }

    /// Removes the handler of `event`.
    pub fn remove(&mut self, event: &str) {
        self.0.retain(|(k, _)| !k.is(event));
    }

    /// The handler of `event`.
    pub fn get(&self, event: &str) -> Option<&Arc<dyn ErasedHandler>> {
        self.0.iter().find(|(k, _)| k.is(event)).map(|(_, h)| h)
    }

    /// Removes every handler, and frees the list.
    pub fn clear(&mut self) {
        self.0 = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Socket;

    fn h() -> Arc<dyn ErasedHandler> {
        crate::handler::erase(|_s: Socket| async {})
    }

    #[test]
    fn short_and_long_names_insert_replace_remove() {
        let long = "an event name longer than twenty-two bytes";
        let mut t = HandlerTable::default();
        let (a, b, c) = (h(), h(), h());
        t.insert("chat message".into(), a.clone());
        t.insert(long.into(), b.clone());
        assert!(Arc::ptr_eq(t.get("chat message").unwrap(), &a));
        assert!(Arc::ptr_eq(t.get(long).unwrap(), &b));
        assert!(t.get("chat").is_none(), "a prefix is another name");
        assert!(t.get("").is_none());
        t.insert("chat message".into(), c.clone());
        assert!(Arc::ptr_eq(t.get("chat message").unwrap(), &c), "replaced");
        assert_eq!(t.0.len(), 2);
        assert_eq!(t.0.capacity(), 2, "exact growth while small");
        t.remove(long);
        assert!(t.get(long).is_none());
        t.insert(String::new(), a.clone());
        assert!(Arc::ptr_eq(t.get("").unwrap(), &a), "the empty name too");
        t.clear();
        assert!(t.get("chat message").is_none());
        assert_eq!(std::mem::size_of::<(Key, Arc<dyn ErasedHandler>)>(), 40);
    }
}
