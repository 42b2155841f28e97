//! Authentication of the admin namespace: none, or a username and a bcrypt
//! password hash, checked in the namespace's connect middleware; a
//! successful password login gets a session id that later connections
//! (page reloads) present instead.

use crate::{AdminUiError, Shared};
use parking_lot::Mutex;
use sockeye::{ConnectError, Socket, SocketId};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The error message the UI recognises.
const INVALID: &str = "invalid credentials";
/// How long a session id stays valid (the Node Redis store's default).
const SESSION_TTL: Duration = Duration::from_secs(86_400);
/// Most sessions kept; the oldest go first.
const MAX_SESSIONS: usize = 10_000;
/// Password checks running at once (each costs tens of ms of CPU).
const MAX_CHECKS: usize = 4;

/// Who may connect to the admin namespace (Node's `auth` option).
#[derive(Clone)]
pub enum Auth {
    /// Anyone who can reach the namespace (`auth: false`): only for a
    /// server that nobody else can reach.
    None,
    /// `auth: {type: "basic", username, password}`, the password given as
    /// its bcrypt hash.
    Basic {
        /// The username, compared exactly.
        username: String,
        /// The bcrypt hash of the password.
        password_hash: String,
    },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .finish_non_exhaustive(),
        }
    }
}

impl Auth {
    /// Basic authentication; refuses a hash that is not bcrypt (`$2a$`,
    /// `$2b$`, `$2y$`, as `bcryptjs`).
    pub fn basic(
        username: impl Into<String>,
        password_hash: impl Into<String>,
    ) -> Result<Auth, AdminUiError> {
        let password_hash = password_hash.into();
        password_hash
            .parse::<bcrypt::HashParts>()
            .map_err(|e| AdminUiError::BadHash(e.to_string()))?;
        Ok(Auth::Basic {
            username: username.into(),
            password_hash,
        })
    }
}

/// Session ids given to password logins, and the ones to announce to the
/// socket that just logged in.
pub(crate) struct Sessions {
    valid: Mutex<HashMap<String, Instant>>,
    new: Mutex<HashMap<SocketId, String>>,
    checks: Arc<tokio::sync::Semaphore>,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions {
            valid: Mutex::default(),
            new: Mutex::default(),
            checks: Arc::new(tokio::sync::Semaphore::new(MAX_CHECKS)),
        }
    }
}

impl Sessions {
    fn is_valid(&self, id: &str) -> bool {
        let mut valid = self.valid.lock();
        match valid.get(id) {
            Some(at) if at.elapsed() < SESSION_TTL => true,
            Some(_) => {
                valid.remove(id);
                false
            }
            None => false,
        }
    }

    fn create(&self, socket: SocketId) -> String {
        let mut bytes = [0u8; 16];
        if getrandom::fill(&mut bytes).is_err() {
            // No session then: the user logs in again after a reload.
            return String::new();
        }
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut valid = self.valid.lock();
        valid.retain(|_, at| at.elapsed() < SESSION_TTL);
        if valid.len() >= MAX_SESSIONS {
            if let Some(oldest) = valid
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(k, _)| k.clone())
            {
                valid.remove(&oldest);
            }
        }
        valid.insert(id.clone(), Instant::now());
        self.new.lock().insert(socket, id.clone());
        id
    }

    /// The session id created for this socket's login, once.
    pub fn take_new(&self, socket: &SocketId) -> Option<String> {
        self.new.lock().remove(socket).filter(|id| !id.is_empty())
    }
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

/// Adds the authentication middleware to the admin namespace (basic only).
pub(crate) fn install(shared: &Arc<Shared>) {
    let Auth::Basic {
        username,
        password_hash,
    } = shared.options.auth.clone()
    else {
        return;
    };
    let weak = Arc::downgrade(shared);
    let (username, hash) = (Arc::new(username), Arc::new(password_hash));
    shared.admin.use_middleware(move |socket: Socket| {
        let (weak, username, hash) = (weak.clone(), username.clone(), hash.clone());
        async move {
            let shared = weak.upgrade().ok_or_else(|| ConnectError::new(INVALID))?;
            let auth: serde_json::Value = socket.auth().unwrap_or(serde_json::Value::Null);
            if let Some(id) = auth.get("sessionId").and_then(|v| v.as_str()) {
                if shared.sessions.is_valid(id) {
                    return Ok(());
                }
            }
            let (Some(user), Some(password)) = (
                auth.get("username").and_then(|v| v.as_str()),
                auth.get("password").and_then(|v| v.as_str()),
            ) else {
                return Err(ConnectError::new(INVALID));
            };
            if user != username.as_str() {
                return Err(ConnectError::new(INVALID));
            }
            let permit = shared
                .sessions
                .checks
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| ConnectError::new(INVALID))?;
            let password = password.to_owned();
            let ok = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                bcrypt::verify(password, &hash).unwrap_or(false)
            })
            .await
            .unwrap_or(false);
            if !ok {
                tracing::warn!(sid = %socket.id(), "admin UI login refused");
                return Err(ConnectError::new(INVALID));
            }
            shared.sessions.create(socket.id());
            Ok(())
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_checked_when_given() {
        assert!(Auth::basic("admin", "not a hash").is_err());
        let hash = bcrypt::hash("secret", 4).expect("hash");
        assert!(Auth::basic("admin", hash).is_ok());
    }

    #[test]
    fn sessions_expire_and_are_announced_once() {
        let s = Sessions::default();
        let socket: SocketId = "AAAAAAAAAAAAAAAAAAAA".parse().expect("id");
        let id = s.create(socket.clone());
        assert_eq!(id.len(), 32);
        assert!(s.is_valid(&id));
        assert!(!s.is_valid("other"));
        assert_eq!(s.take_new(&socket).as_deref(), Some(id.as_str()));
        assert_eq!(s.take_new(&socket), None);
        s.valid
            .lock()
            .insert("old".into(), Instant::now() - SESSION_TTL);
        assert!(!s.is_valid("old"));
    }
}
