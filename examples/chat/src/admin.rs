//! `--admin-ui`: the Socket.IO Admin UI. The server side is
//! `sockeye-admin-ui` on the admin namespace `/admin`; the page is the npm
//! package `@socket.io/admin-ui`'s `ui/dist` (the chat's package.json pins
//! it), read once at start and served at `/admin/`.

use bytes::Bytes;
use clap::Args;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::Full;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The Admin UI's flags.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Serve the Socket.IO Admin UI at /admin/ and instrument the server
    /// for it (namespace /admin, development mode: sockets, rooms and
    /// events are shown). Needs --admin-user and --admin-password-hash, or
    /// --admin-no-auth (refused unless every listener is on a loopback
    /// address).
    #[arg(long = "admin-ui", env = "SOCKEYE_CHAT_ADMIN_UI")]
    pub admin_ui: bool,

    /// The Admin UI's username.
    #[arg(
        long = "admin-user",
        value_name = "NAME",
        env = "SOCKEYE_CHAT_ADMIN_USER"
    )]
    pub admin_user: Option<String>,

    /// The bcrypt hash of the Admin UI's password (`$2b$10$...`; for
    /// example from `htpasswd -bnBC 10 "" PASSWORD | tr -d ':\n'`).
    #[arg(
        long = "admin-password-hash",
        value_name = "HASH",
        env = "SOCKEYE_CHAT_ADMIN_PASSWORD_HASH"
    )]
    pub admin_password_hash: Option<String>,

    /// No login for the Admin UI: anyone who reaches the server can see
    /// every socket and disconnect them. Only with loopback listeners.
    #[arg(long = "admin-no-auth", env = "SOCKEYE_CHAT_ADMIN_NO_AUTH")]
    pub admin_no_auth: bool,

    /// The `ui/dist` folder of @socket.io/admin-ui (default: next to the
    /// client bundle's package, in the same node_modules).
    #[arg(
        long = "admin-ui-dist",
        value_name = "DIR",
        env = "SOCKEYE_CHAT_ADMIN_UI_DIST"
    )]
    pub admin_ui_dist: Option<PathBuf>,
}

impl AdminArgs {
    /// The authentication to use, or why the flags do not fit together.
    pub fn auth(&self, listeners: &[SocketAddr]) -> Result<sockeye_admin_ui::Auth, String> {
        match (&self.admin_user, &self.admin_password_hash, self.admin_no_auth) {
            (Some(_), _, true) | (_, Some(_), true) => {
                Err("--admin-no-auth cannot be combined with --admin-user/--admin-password-hash".into())
            }
            (Some(user), Some(hash), false) => sockeye_admin_ui::Auth::basic(user, hash)
                .map_err(|e| format!("--admin-password-hash: {e}")),
            (None, None, true) => {
                if let Some(open) = listeners.iter().find(|a| !a.ip().is_loopback()) {
                    return Err(format!(
                        "--admin-no-auth is refused when listening on a non-loopback address ({open}): \
                         give --admin-user and --admin-password-hash"
                    ));
                }
                Ok(sockeye_admin_ui::Auth::None)
            }
            _ => Err(
                "--admin-ui needs --admin-user and --admin-password-hash (or --admin-no-auth on loopback)"
                    .into(),
            ),
        }
    }
}

/// The UI's files, by path under `/admin/`.
#[derive(Debug)]
pub struct AdminFiles {
    files: HashMap<String, (&'static str, Bytes)>,
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "application/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("map") | Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// The page's CSP: its own origin, plus the fonts `index.html` loads from
/// Google Fonts and jsDelivr, and inline styles (Vuetify sets them).
const CSP: &str = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; \
     style-src 'self' 'unsafe-inline' https://fonts.googleapis.com https://cdn.jsdelivr.net; \
     font-src 'self' data: https://fonts.gstatic.com https://cdn.jsdelivr.net; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

impl AdminFiles {
    /// `dir` (or the default next to the client bundle), read whole.
    pub fn load(dir: Option<&Path>, client_dist: &Path) -> Result<AdminFiles, String> {
        let dir = dir
            .map(Path::to_owned)
            .unwrap_or_else(|| client_dist.join("../../@socket.io/admin-ui/ui/dist"));
        let mut files = HashMap::new();
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            let entries = std::fs::read_dir(&d).map_err(|e| {
                format!(
                    "the Admin UI files were not found in {} ({e}): run `npm ci` in examples/chat \
                     or pass --admin-ui-dist DIR (the ui/dist folder of @socket.io/admin-ui 0.5.1)",
                    d.display()
                )
            })?;
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let rel = path.strip_prefix(&dir).map_err(|e| e.to_string())?;
                let rel = rel.to_string_lossy().replace('\\', "/");
                if rel.ends_with(".map") {
                    continue;
                }
                let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                files.insert(rel.clone(), (content_type(&rel), Bytes::from(bytes)));
            }
        }
        if !files.contains_key("index.html") {
            return Err(format!("no index.html in {}", dir.display()));
        }
        Ok(AdminFiles { files })
    }

    /// The answer for a GET of `path`, if it is the UI's (`/admin`
    /// redirects to `/admin/`, whose relative links need the slash).
    pub fn respond(&self, path: &str, head: bool) -> Option<Response<Full<Bytes>>> {
        if path == "/admin" {
            let mut res = Response::new(Full::new(Bytes::new()));
            *res.status_mut() = StatusCode::MOVED_PERMANENTLY;
            res.headers_mut()
                .insert(header::LOCATION, HeaderValue::from_static("/admin/"));
            return Some(res);
        }
        let rel = path.strip_prefix("/admin/")?;
        let rel = if rel.is_empty() { "index.html" } else { rel };
        let (ct, body) = self.files.get(rel)?;
        let len = body.len();
        let mut res = Response::new(Full::new(if head { Bytes::new() } else { body.clone() }));
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        let cache = if rel == "index.html" {
            "no-cache"
        } else {
            "public, max-age=31536000, immutable"
        };
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        if rel == "index.html" {
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            );
        }
        Some(res)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(user: Option<&str>, hash: Option<&str>, no_auth: bool) -> AdminArgs {
        AdminArgs {
            admin_ui: true,
            admin_user: user.map(str::to_owned),
            admin_password_hash: hash.map(str::to_owned),
            admin_no_auth: no_auth,
            admin_ui_dist: None,
        }
    }

    #[test]
    fn no_auth_only_on_loopback() {
        let lo: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let any: SocketAddr = "0.0.0.0:3000".parse().expect("addr");
        assert!(args(None, None, true).auth(&[lo]).is_ok());
        let err = args(None, None, true)
            .auth(&[lo, any])
            .expect_err("refused");
        assert!(err.contains("non-loopback"), "{err}");
        assert!(args(None, None, false).auth(&[lo]).is_err());
        assert!(args(Some("a"), Some("nope"), false).auth(&[any]).is_err());
        assert!(args(Some("a"), None, true).auth(&[lo]).is_err());
    }
}
