//! The chat's state: who is logged in under which nickname, and the recent
//! public messages. Transport-free, so it is tested on its own.

use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{SystemTime, UNIX_EPOCH};

/// Longest nickname, in characters (after trimming).
pub const MAX_NICKNAME: usize = 32;
/// Longest message, in characters.
pub const MAX_MESSAGE: usize = 2000;
/// How many public messages a newcomer gets in `login`.
pub const HISTORY: usize = 50;

/// A public message, as broadcast in `new message` and kept in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicMessage {
    /// The sender's nickname.
    pub username: String,
    /// The text, as sent.
    pub message: String,
    /// Unique for the server's lifetime.
    pub id: String,
    /// Milliseconds since the Unix epoch.
    pub at: u64,
}

/// A private message, as its recipient gets it in `private message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrivateMessage {
    /// The sender's nickname.
    pub from: String,
    /// The text, as sent.
    pub message: String,
    /// Unique for the server's lifetime.
    pub id: String,
    /// Milliseconds since the Unix epoch.
    pub at: u64,
}

/// What the sender of an accepted `add user` gets, as `login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Login {
    /// How many users are logged in, the newcomer included.
    pub num_users: usize,
    /// Their nicknames, the newcomer included, in login order.
    pub users: Vec<String>,
    /// The last public messages, oldest first.
    pub history: Vec<PublicMessage>,
}

/// Why the chat refused something; the text is what the client is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

impl Refused {
    fn new(message: impl Into<String>) -> Self {
        Refused(message.into())
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Trims a nickname and checks it: 1 to 32 characters, no control
/// characters.
pub fn check_nickname(raw: &str) -> Result<String, Refused> {
    let name = raw.trim();
    let len = name.chars().count();
    if len == 0 {
        return Err(Refused::new("the nickname is empty"));
    }
    if len > MAX_NICKNAME {
        return Err(Refused::new(format!(
            "the nickname is too long ({len} characters, at most {MAX_NICKNAME})"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Refused::new("the nickname contains control characters"));
    }
    Ok(name.to_owned())
}

/// Checks a message's text: 1 to 2,000 characters, not only white space.
pub fn check_message(text: &str) -> Result<(), Refused> {
    if text.trim().is_empty() {
        return Err(Refused::new("the message is empty"));
    }
    let len = text.chars().count();
    if len > MAX_MESSAGE {
        return Err(Refused::new(format!(
            "the message is too long ({len} characters, at most {MAX_MESSAGE})"
        )));
    }
    Ok(())
}

/// The folded form under which nicknames must be unique.
fn fold(name: &str) -> String {
    name.to_lowercase()
}

/// The chat's state, keyed by an id per connection (`K`: the socket id in
/// the server, anything in tests).
#[derive(Debug)]
pub struct Chat<K> {
    /// Connection → nickname.
    users: HashMap<K, User>,
    /// Folded nickname → connection.
    names: HashMap<String, K>,
    /// Login sequence number → nickname: the user list in login order,
    /// listed in O(users).
    order: BTreeMap<u64, String>,
    history: VecDeque<PublicMessage>,
    /// Makes ids unique across restarts of the server.
    epoch: u64,
    next_id: u64,
    next_seq: u64,
}

#[derive(Debug)]
struct User {
    name: String,
    /// Login order, for the user list.
    seq: u64,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl<K: Clone + Eq + std::hash::Hash> Default for Chat<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Clone + Eq + std::hash::Hash> Chat<K> {
    /// An empty chat.
    pub fn new() -> Self {
        Chat {
            users: HashMap::new(),
            names: HashMap::new(),
            order: BTreeMap::new(),
            history: VecDeque::with_capacity(HISTORY),
            epoch: now_ms(),
            next_id: 0,
            next_seq: 0,
        }
    }

    fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("{:x}-{:x}", self.epoch, self.next_id)
    }

    /// How many users are logged in.
    #[cfg(test)]
    pub fn num_users(&self) -> usize {
        self.users.len()
    }

    /// The nickname of a logged-in connection.
    pub fn username(&self, key: &K) -> Option<&str> {
        self.users.get(key).map(|u| u.name.as_str())
    }

    /// The connection logged in under a nickname (ignoring case and
    /// surrounding white space).
    pub fn find(&self, name: &str) -> Option<&K> {
        self.names.get(&fold(name.trim()))
    }

    /// The nicknames, in login order.
    pub fn users(&self) -> Vec<String> {
        self.order.values().cloned().collect()
    }

    /// Logs a connection in: `Ok((nickname, login))` with the trimmed name.
    pub fn add_user(&mut self, key: K, raw: &str) -> Result<(String, Login), Refused> {
        if let Some(name) = self.username(&key) {
            return Err(Refused::new(format!("you are already logged in as {name}")));
        }
        let name = check_nickname(raw)?;
        let folded = fold(&name);
        if self.names.contains_key(&folded) {
            return Err(Refused::new(format!("the nickname {name} is taken")));
        }
        self.next_seq += 1;
        self.names.insert(folded, key.clone());
        self.order.insert(self.next_seq, name.clone());
        self.users.insert(
            key,
            User {
                name: name.clone(),
                seq: self.next_seq,
            },
        );
        let login = Login {
            num_users: self.users.len(),
            users: self.users(),
            history: self.history.iter().cloned().collect(),
        };
        Ok((name, login))
    }

    /// Logs a connection out: its nickname and the remaining user count,
    /// or `None` if it was not logged in.
    pub fn remove_user(&mut self, key: &K) -> Option<(String, usize)> {
        let user = self.users.remove(key)?;
        self.names.remove(&fold(&user.name));
        self.order.remove(&user.seq);
        Some((user.name, self.users.len()))
    }

    /// A public message from a logged-in connection, added to the history.
    pub fn new_message(&mut self, key: &K, text: &str) -> Result<PublicMessage, Refused> {
        let username = self
            .username(key)
            .ok_or_else(|| Refused::new("log in (add user) before sending messages"))?
            .to_owned();
        check_message(text)?;
        let msg = PublicMessage {
            username,
            message: text.to_owned(),
            id: self.new_id(),
            at: now_ms(),
        };
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(msg.clone());
        Ok(msg)
    }

    /// A private message: the recipient's key and what it gets.
    pub fn private_message(
        &mut self,
        key: &K,
        to: &str,
        text: &str,
    ) -> Result<(K, PrivateMessage), Refused> {
        let from = self
            .username(key)
            .ok_or_else(|| Refused::new("log in (add user) before sending messages"))?
            .to_owned();
        check_message(text)?;
        let recipient = self
            .find(to)
            .cloned()
            .ok_or_else(|| Refused::new(format!("no user named {}", to.trim())))?;
        if &recipient == key {
            return Err(Refused::new(
                "you cannot send a private message to yourself",
            ));
        }
        let msg = PrivateMessage {
            from,
            message: text.to_owned(),
            id: self.new_id(),
            at: now_ms(),
        };
        Ok((recipient, msg))
    }

    /// The last public messages, oldest first.
    #[cfg(test)]
    pub fn history(&self) -> Vec<PublicMessage> {
        self.history.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicknames_are_trimmed_and_bounded() {
        assert_eq!(check_nickname("  ada \t").unwrap(), "ada");
        assert!(check_nickname("").is_err());
        assert!(check_nickname("   ").is_err());
        assert!(check_nickname("a\nb").is_err());
        let max: String = "é".repeat(MAX_NICKNAME);
        assert_eq!(check_nickname(&max).unwrap(), max);
        assert!(check_nickname(&format!("{max}x")).is_err());
        // Trimming happens before the length check.
        assert!(check_nickname(&format!("  {max}  ")).is_ok());
    }

    #[test]
    fn nicknames_are_unique_ignoring_case() {
        let mut chat = Chat::new();
        let (name, login) = chat.add_user(1, " Ada ").unwrap();
        assert_eq!(name, "Ada");
        assert_eq!(login.num_users, 1);
        assert_eq!(login.users, ["Ada"]);
        let err = chat.add_user(2, "ADA").unwrap_err();
        assert!(err.0.contains("taken"), "{err}");
        let err = chat.add_user(2, "  ada").unwrap_err();
        assert!(err.0.contains("taken"), "{err}");
        let (_, login) = chat.add_user(2, "Grace").unwrap();
        assert_eq!(login.num_users, 2);
        assert_eq!(login.users, ["Ada", "Grace"]);
        assert_eq!(chat.find("grace"), Some(&2));
        assert_eq!(chat.find(" ADA "), Some(&1));
    }

    #[test]
    fn a_connection_logs_in_once() {
        let mut chat = Chat::new();
        chat.add_user(1, "ada").unwrap();
        let err = chat.add_user(1, "other").unwrap_err();
        assert!(err.0.contains("already"), "{err}");
        assert_eq!(chat.num_users(), 1);
    }

    #[test]
    fn leaving_frees_the_nickname() {
        let mut chat = Chat::new();
        chat.add_user(1, "Ada").unwrap();
        chat.add_user(2, "Grace").unwrap();
        assert_eq!(chat.remove_user(&1), Some(("Ada".to_owned(), 1)));
        assert_eq!(chat.remove_user(&1), None);
        assert_eq!(chat.remove_user(&3), None);
        let (_, login) = chat.add_user(3, "ada").unwrap();
        assert_eq!(login.users, ["Grace", "ada"]);
    }

    #[test]
    fn messages_need_a_login_and_a_sane_length() {
        let mut chat = Chat::new();
        let err = chat.new_message(&1, "hi").unwrap_err();
        assert!(err.0.contains("add user"), "{err}");
        chat.add_user(1, "ada").unwrap();
        assert!(chat.new_message(&1, "").is_err());
        assert!(chat.new_message(&1, "  \n ").is_err());
        assert!(chat.new_message(&1, &"x".repeat(MAX_MESSAGE)).is_ok());
        let err = chat
            .new_message(&1, &"x".repeat(MAX_MESSAGE + 1))
            .unwrap_err();
        assert!(err.0.contains("too long"), "{err}");
        // Characters, not bytes.
        assert!(chat.new_message(&1, &"é".repeat(MAX_MESSAGE)).is_ok());
        let msg = chat.new_message(&1, " hello ").unwrap();
        assert_eq!(msg.username, "ada");
        assert_eq!(msg.message, " hello ");
        assert!(msg.at > 0);
    }

    #[test]
    fn ids_are_unique() {
        let mut chat = Chat::new();
        chat.add_user(1, "ada").unwrap();
        chat.add_user(2, "bob").unwrap();
        let a = chat.new_message(&1, "a").unwrap().id;
        let b = chat.new_message(&1, "b").unwrap().id;
        let (_, c) = chat.private_message(&1, "bob", "c").unwrap();
        assert_ne!(a, b);
        assert_ne!(b, c.id);
        assert_ne!(a, c.id);
    }

    #[test]
    fn history_keeps_the_last_fifty() {
        let mut chat = Chat::new();
        chat.add_user(1, "ada").unwrap();
        for i in 0..(HISTORY + 7) {
            chat.new_message(&1, &format!("m{i}")).unwrap();
        }
        let history = chat.history();
        assert_eq!(history.len(), HISTORY);
        assert_eq!(history[0].message, "m7");
        assert_eq!(history[HISTORY - 1].message, format!("m{}", HISTORY + 6));
        let (_, login) = chat.add_user(2, "bob").unwrap();
        assert_eq!(login.history, history);
        // Private messages stay out of the history.
        chat.private_message(&2, "ada", "secret").unwrap();
        assert_eq!(chat.history(), history);
    }

    #[test]
    fn private_messages() {
        let mut chat = Chat::new();
        assert!(chat.private_message(&1, "bob", "hi").is_err());
        chat.add_user(1, "Ada").unwrap();
        chat.add_user(2, "Bob").unwrap();
        let (to, msg) = chat.private_message(&1, " bob ", "hi").unwrap();
        assert_eq!(to, 2);
        assert_eq!(msg.from, "Ada");
        assert_eq!(msg.message, "hi");
        let err = chat.private_message(&1, "carol", "hi").unwrap_err();
        assert!(err.0.contains("no user named carol"), "{err}");
        assert!(chat.private_message(&1, "ada", "hi").is_err());
        assert!(chat.private_message(&1, "bob", "").is_err());
    }

    #[test]
    fn login_serializes_in_camel_case() {
        let mut chat = Chat::new();
        let (_, login) = chat.add_user(1, "ada").unwrap();
        let json = serde_json::to_value(&login).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"numUsers": 1, "users": ["ada"], "history": []})
        );
    }
}
