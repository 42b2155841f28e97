//! The Engine.IO session cookie (`io` by default): see [`CookieConfig`].

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderValue;

/// First second that `httpdate` cannot format (year 10000); `Expires` must be before it.
const MAX_HTTP_DATE_SECS: u64 = 253_402_300_800;

/// Defines a cookie attribute enum with `as_str`, `Display` and a case-insensitive `FromStr`.
macro_rules! attribute_enum {
    (
        $(#[$meta:meta])* $name:ident, $error:ident;
        $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// The attribute value as rendered in `Set-Cookie`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = CookieError;

            /// Parses the attribute value, ignoring ASCII case.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                [$($name::$variant),+]
                    .into_iter()
                    .find(|v| v.as_str().eq_ignore_ascii_case(s))
                    .ok_or_else(|| CookieError::$error { value: s.to_owned() })
            }
        }
    };
}

attribute_enum! {
    /// Value of the `SameSite` cookie attribute; parses from `strict`, `lax`, `none` (any case).
    SameSite, UnknownSameSite;
    /// `SameSite=Strict`: the cookie is never sent with cross-site requests.
    Strict => "Strict",
    /// `SameSite=Lax`: sent with top-level cross-site navigations only (the default).
    Lax => "Lax",
    /// `SameSite=None`: sent with every cross-site request; browsers require `Secure`.
    None => "None",
}

attribute_enum! {
    /// Value of the `Priority` cookie attribute (Chromium only); parses from `low`, `medium`,
    /// `high` (any case).
    Priority, UnknownPriority;
    /// `Priority=Low`.
    Low => "Low",
    /// `Priority=Medium` (what browsers assume when the attribute is absent).
    Medium => "Medium",
    /// `Priority=High`.
    High => "High",
}

/// A cookie configuration that [`CookieConfig::validate`] refused, or an attribute value that
/// could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CookieError {
    /// The cookie name is empty.
    #[error("the cookie name is empty")]
    EmptyName,
    /// The cookie name is not an RFC 6265 token.
    #[error(
        "cookie name {name:?} is not an RFC 6265 token: {ch:?} is not allowed \
         (use letters, digits and !#$%&'*+-.^_`|~)"
    )]
    InvalidName {
        /// The refused name.
        name: String,
        /// The first character that is not allowed.
        ch: char,
    },
    /// The `Path` attribute is unusable or could inject into the header.
    #[error("cookie path {path:?} is invalid: {reason}")]
    InvalidPath {
        /// The refused path.
        path: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The `Domain` attribute is not a plausible host name or could inject into the header.
    #[error("cookie domain {domain:?} is invalid: {reason}")]
    InvalidDomain {
        /// The refused domain.
        domain: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// `Max-Age` is under one second, which renders as `Max-Age=0` (delete at once).
    #[error("cookie Max-Age is under one second: Max-Age=0 makes the browser delete the cookie")]
    MaxAgeTooShort,
    /// `Expires` is before 1970 or after year 9999 and cannot be written as an HTTP date.
    #[error("cookie Expires must be between 1970-01-01 and 9999-12-31")]
    ExpiresOutOfRange,
    /// `SameSite=None` without `Secure`: browsers reject such cookies.
    #[error("SameSite=None requires Secure: browsers reject SameSite=None cookies without it")]
    SameSiteNoneWithoutSecure,
    /// `Partitioned` without `Secure`: browsers reject such cookies.
    #[error("Partitioned requires Secure: browsers reject partitioned cookies without it")]
    PartitionedWithoutSecure,
    /// A prefixed name (`__Secure-`, `__Host-`, `__Http-`, `__Host-Http-`) whose attributes
    /// break the prefix's rules.
    #[error("cookie name {name:?} has the {prefix} prefix, which requires {requires}")]
    PrefixRule {
        /// The cookie name.
        name: String,
        /// The prefix found in the name.
        prefix: &'static str,
        /// The rule broken: `Secure`, `Path=/`, `no Domain attribute` or `HttpOnly`.
        requires: &'static str,
    },
    /// A string that is not `strict`, `lax` or `none`.
    #[error("unknown SameSite value {value:?}: expected strict, lax or none")]
    UnknownSameSite {
        /// The refused string.
        value: String,
    },
    /// A string that is not `low`, `medium` or `high`.
    #[error("unknown cookie Priority {value:?}: expected low, medium or high")]
    UnknownPriority {
        /// The refused string.
        value: String,
    },
}

/// Settings of the session cookie, whose value is the Engine.IO session id.
///
/// When enabled (it is off by default), the engine sets it on the polling handshake response
/// only (the first `GET`, without `sid`), never on a WebSocket `101`, like the reference
/// server. Its main use is cookie-based sticky sessions behind a load balancer, e.g. HAProxy
/// with `cookie io prefix indirect nocache`, which rewrites this cookie so that every later
/// request of the session reaches the same node.
///
/// The default is `io=<sid>; Path=/; HttpOnly; SameSite=Lax`, the reference server's
/// `cookie: true`. Attributes are rendered in the reference's order (npm `cookie` 0.7):
/// `Max-Age`, `Domain`, `Path`, `Expires`, `HttpOnly`, `Secure`, `Partitioned`, `Priority`,
/// `SameSite`. The `with_*` methods cannot fail: call [`validate`](Self::validate) once when
/// configuring the server; it refuses what browsers would silently drop (e.g. `SameSite=None`
/// without `Secure`) and any value that could break out of the `Set-Cookie` header.
///
/// ```ignore
/// let cookie = CookieConfig::default()
///     .with_secure(true)
///     .with_same_site(Some(SameSite::None));
/// cookie.validate()?;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CookieConfig {
    name: String,
    path: Option<String>,
    domain: Option<String>,
    max_age: Option<Duration>,
    expires: Option<SystemTime>,
    http_only: bool,
    secure: bool,
    same_site: Option<SameSite>,
    partitioned: bool,
    priority: Option<Priority>,
}

impl Default for CookieConfig {
    /// `io=<sid>; Path=/; HttpOnly; SameSite=Lax`.
    fn default() -> Self {
        CookieConfig {
            name: "io".to_owned(),
            path: Some("/".to_owned()),
            domain: None,
            max_age: None,
            expires: None,
            http_only: true,
            secure: false,
            same_site: Some(SameSite::Lax),
            partitioned: false,
            priority: None,
        }
    }
}

impl CookieConfig {
    /// Sets the cookie name (default `io`). It must be an RFC 6265 token.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the `Path` attribute (default `Some("/")`); `None` renders no `Path` attribute.
    #[must_use]
    pub fn with_path(mut self, path: Option<String>) -> Self {
        self.path = path;
        self
    }

    /// Sets the `Domain` attribute (default: none, the cookie is host-only).
    #[must_use]
    pub fn with_domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// Sets `Max-Age`, rendered in whole seconds (rounded down). Default: none (session cookie).
    #[must_use]
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Sets `Expires`, rendered as an HTTP date. Default: none (session cookie).
    #[must_use]
    pub fn with_expires(mut self, expires: SystemTime) -> Self {
        self.expires = Some(expires);
        self
    }

    /// Sets `HttpOnly` (default `true`): scripts cannot read the cookie.
    #[must_use]
    pub fn with_http_only(mut self, http_only: bool) -> Self {
        self.http_only = http_only;
        self
    }

    /// Sets `Secure` (default `false`): the cookie is only sent over HTTPS.
    #[must_use]
    pub fn with_secure(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// Sets `SameSite` (default `Some(Lax)`); `None` renders no `SameSite` attribute.
    #[must_use]
    pub fn with_same_site(mut self, same_site: Option<SameSite>) -> Self {
        self.same_site = same_site;
        self
    }

    /// Sets `Partitioned` (CHIPS, default `false`); requires `Secure`.
    #[must_use]
    pub fn with_partitioned(mut self, partitioned: bool) -> Self {
        self.partitioned = partitioned;
        self
    }

    /// Sets `Priority` (default: none).
    #[must_use]
    pub fn with_priority(mut self, priority: Option<Priority>) -> Self {
        self.priority = priority;
        self
    }

    /// The cookie name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `Path` attribute, if any.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// The `Domain` attribute, if any.
    pub fn domain(&self) -> Option<&str> {
        self.domain.as_deref()
    }

    /// The `Max-Age` attribute, if any.
    pub fn max_age(&self) -> Option<Duration> {
        self.max_age
    }

    /// The `Expires` attribute, if any.
    pub fn expires(&self) -> Option<SystemTime> {
        self.expires
    }

    /// Whether `HttpOnly` is set.
    pub fn http_only(&self) -> bool {
        self.http_only
    }

    /// Whether `Secure` is set.
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// The `SameSite` attribute, if any.
    pub fn same_site(&self) -> Option<SameSite> {
        self.same_site
    }

    /// Whether `Partitioned` is set.
    pub fn partitioned(&self) -> bool {
        self.partitioned
    }

    /// The `Priority` attribute, if any.
    pub fn priority(&self) -> Option<Priority> {
        self.priority
    }

    /// Checks that browsers will accept the cookie and that no value can inject into the header.
    ///
    /// Cookie-name prefixes are recognised ignoring ASCII case, as current browsers do.
    ///
    /// # Errors
    ///
    /// The first problem found, as a [`CookieError`].
    pub fn validate(&self) -> Result<(), CookieError> {
        if self.name.is_empty() {
            return Err(CookieError::EmptyName);
        }
        if let Some(ch) = self.name.chars().find(|&c| !is_tchar(c)) {
            return Err(CookieError::InvalidName {
                name: self.name.clone(),
                ch,
            });
        }
        if let Some(path) = &self.path {
            check_path(path).map_err(|reason| CookieError::InvalidPath {
                path: path.clone(),
                reason,
            })?;
        }
        if let Some(domain) = &self.domain {
            check_domain(domain).map_err(|reason| CookieError::InvalidDomain {
                domain: domain.clone(),
                reason,
            })?;
        }
        if self.max_age.is_some_and(|d| d.as_secs() == 0) {
            return Err(CookieError::MaxAgeTooShort);
        }
        if self.expires.is_some_and(|t| http_date(t).is_none()) {
            return Err(CookieError::ExpiresOutOfRange);
        }
        self.check_prefixes()?;
        if self.same_site == Some(SameSite::None) && !self.secure {
            return Err(CookieError::SameSiteNoneWithoutSecure);
        }
        if self.partitioned && !self.secure {
            return Err(CookieError::PartitionedWithoutSecure);
        }
        Ok(())
    }

    fn check_prefixes(&self) -> Result<(), CookieError> {
        let name = &self.name;
        let has = |prefix: &str| {
            name.get(..prefix.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
        };
        let prefix = ["__Host-Http-", "__Host-", "__Http-", "__Secure-"]
            .into_iter()
            .find(|p| has(p));
        let Some(prefix) = prefix else {
            return Ok(());
        };
        let rule = |requires| {
            Err(CookieError::PrefixRule {
                name: name.clone(),
                prefix,
                requires,
            })
        };
        let host = prefix.starts_with("__Host-");
        if !self.secure {
            rule("Secure")
        } else if host && self.path.as_deref() != Some("/") {
            rule("Path=/")
        } else if host && self.domain.is_some() {
            rule("no Domain attribute")
        } else if prefix.ends_with("Http-") && !self.http_only {
            rule("HttpOnly")
        } else {
            Ok(())
        }
    }

    /// The `Set-Cookie` value carrying `sid`, e.g. `io=<sid>; Path=/; HttpOnly; SameSite=Lax`.
    ///
    /// Meant for a configuration that passed [`validate`](Self::validate). It never panics
    /// and never lets a value break out of the header whatever the configuration: the name
    /// and the value are percent-encoded where needed (the sid, base64url, never is), and a
    /// `Path`, `Domain` or `Expires` that `validate` would refuse is left out.
    pub(crate) fn header_value(&self, sid: &str) -> HeaderValue {
        let mut out = String::with_capacity(64 + sid.len());
        percent_encode_into(&mut out, &self.name, is_tchar);
        out.push('=');
        percent_encode_into(&mut out, sid, is_uri_component_char);
        if let Some(max_age) = self.max_age {
            out.push_str("; Max-Age=");
            out.push_str(&max_age.as_secs().to_string());
        }
        if let Some(domain) = self.domain.as_deref().filter(|d| check_domain(d).is_ok()) {
            out.push_str("; Domain=");
            out.push_str(domain);
        }
        if let Some(path) = self.path.as_deref().filter(|p| check_path(p).is_ok()) {
            out.push_str("; Path=");
            out.push_str(path);
        }
        if let Some(date) = self.expires.and_then(http_date) {
            out.push_str("; Expires=");
            out.push_str(&date);
        }
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        if self.secure {
            out.push_str("; Secure");
        }
        if self.partitioned {
            out.push_str("; Partitioned");
        }
        if let Some(priority) = self.priority {
            out.push_str("; Priority=");
            out.push_str(priority.as_str());
        }
        if let Some(same_site) = self.same_site {
            out.push_str("; SameSite=");
            out.push_str(same_site.as_str());
        }
        // Everything above is visible ASCII, so this conversion cannot fail.
        HeaderValue::try_from(out).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// RFC 7230 `tchar`, which RFC 6265 uses for cookie names.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// Characters JavaScript's `encodeURIComponent` leaves alone (the reference's value encoder).
fn is_uri_component_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.!~*'()".contains(c)
}

/// Appends `s`, percent-encoding (UTF-8, upper-case hex) every character not accepted by `keep`.
fn percent_encode_into(out: &mut String, s: &str, keep: fn(char) -> bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for c in s.chars() {
        if keep(c) {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for &b in c.encode_utf8(&mut buf).as_bytes() {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0x0f)]));
            }
        }
    }
}

/// Checks a `Path` value: starts with `/`, then only visible ASCII or space except `;`.
fn check_path(path: &str) -> Result<(), &'static str> {
    if !path.is_ascii() {
        return Err("it contains a non-ASCII character");
    }
    if path.bytes().any(|b| b.is_ascii_control()) {
        return Err("it contains a control character");
    }
    if path.contains(';') {
        return Err("it contains ';'");
    }
    if !path.starts_with('/') {
        return Err("it must start with '/' (browsers ignore any other path)");
    }
    Ok(())
}

/// Checks a `Domain` value: a host name made of letter/digit/hyphen labels, one leading `.`
/// tolerated (browsers ignore it).
fn check_domain(domain: &str) -> Result<(), &'static str> {
    if !domain.is_ascii() {
        return Err("it contains a non-ASCII character (use the punycode form)");
    }
    if domain.bytes().any(|b| b.is_ascii_control()) {
        return Err("it contains a control character");
    }
    if domain.contains(';') {
        return Err("it contains ';'");
    }
    let host = domain.strip_prefix('.').unwrap_or(domain);
    if host.is_empty() {
        return Err("it is empty");
    }
    if host.len() > 253 {
        return Err("it is longer than 253 characters");
    }
    for label in host.split('.') {
        if label.is_empty() {
            return Err("it has an empty label (two dots, or a trailing dot)");
        }
        if label.len() > 63 {
            return Err("a label is longer than 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err("labels may only hold letters, digits and '-'");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label starts or ends with '-'");
        }
    }
    Ok(())
}

/// Formats `t` as an IMF-fixdate, or `None` when `httpdate` would panic on it.
fn http_date(t: SystemTime) -> Option<String> {
    let secs = t.duration_since(UNIX_EPOCH).ok()?.as_secs();
    (secs < MAX_HTTP_DATE_SECS).then(|| httpdate::fmt_http_date(t))
}

#[cfg(test)]
#[path = "cookie_tests.rs"]
mod tests;
