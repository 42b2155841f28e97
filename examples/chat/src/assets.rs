//! Where the chat's browser assets come from, wherever the binary runs.
//!
//! The page itself (HTML, script, style) is embedded in the binary (see
//! `web.rs`). The official `socket.io-client` bundle it loads is not: it is
//! an npm package, pinned by the chat's own `package.json` and
//! `package-lock.json` (examples/chat/) and installed with `npm ci`. The
//! folder it is served from is, first match wins:
//!
//! 1. `--client-dist DIR` / `SOCKEYE_CHAT_CLIENT_DIST` (must hold the
//!    bundle, or the program stops);
//! 2. `node_modules/socket.io-client/dist` next to the executable (what
//!    `npm install --prefix <folder of the binary> socket.io-client@VERSION`
//!    creates, for a binary copied elsewhere);
//! 3. `node_modules/socket.io-client/dist` in examples/chat/ of the source
//!    tree the binary was compiled from (what `npm ci` there and
//!    `scripts/chat` create; covers `cargo run` and `cargo install --path`
//!    from any working directory).
//!
//! When none holds it, the program exits with code 2 and one instruction
//! naming the npm command and the flag.
//!
//! The bundle is deliberately not embedded at build time: a build script
//! watching node_modules/ would make the same source give two different
//! binaries depending on whether `npm ci` ran before `cargo build`, and the
//! library serves the bundle (ETag from the package version, source maps,
//! gzip) from a `dist/` folder, which an embedded copy would have to
//! duplicate. A lookup that ends in one clear instruction keeps
//! `cargo build` free of npm and every binary alike.

use std::fmt;
use std::path::{Path, PathBuf};

/// The chat's package.json, which pins the browser packages.
const PACKAGE_JSON: &str = include_str!("../package.json");

/// The chat's folder in the source tree this binary was compiled from.
const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// The npm package of the client bundle.
const CLIENT_PACKAGE: &str = "socket.io-client";

/// The bundle the page loads; its presence (with the package's
/// package.json) marks a usable `dist/` folder.
const PAGE_BUNDLE: &str = "socket.io.min.js";

/// Why no usable client bundle was found. Its message is the one
/// instruction the user gets.
#[derive(Debug, thiserror::Error)]
pub enum AssetsError {
    /// `--client-dist` names a folder without the bundle.
    #[error(
        "--client-dist {dir}: no socket.io-client bundle there ({bundle} and {package_json} \
         are needed); pass the dist/ folder of the npm package socket.io-client {version}, \
         or leave --client-dist out after running `{npm}`",
        dir = .dir.display(),
        bundle = .dir.join(PAGE_BUNDLE).display(),
        package_json = .dir.join("..").join("package.json").display(),
        version = pinned_client_version(),
        npm = .install,
    )]
    Unusable {
        /// The folder given.
        dir: PathBuf,
        /// The npm command that installs the bundle where it is looked for.
        install: Install,
    },
    /// None of the places looked at holds the bundle.
    #[error(
        "the socket.io-client bundle the chat page loads was not found (looked in {looked}); \
         run `{npm}`{scripts}, or pass --client-dist DIR (or SOCKEYE_CHAT_CLIENT_DIST) naming \
         the dist/ folder of the npm package socket.io-client {version}",
        looked = .looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
        npm = .install,
        scripts = if .install.in_source_tree { " (scripts/chat does it)" } else { "" },
        version = pinned_client_version(),
    )]
    NotFound {
        /// The `dist/` folders looked at, in order.
        looked: Vec<PathBuf>,
        /// The npm command that installs the bundle where it is looked for.
        install: Install,
    },
}

/// The npm command that puts the bundle where the binary looks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install {
    /// The folder that gets `node_modules/`.
    prefix: PathBuf,
    /// `npm ci` from the chat's lockfile (the source tree is there), or
    /// else `npm install` of the pinned version.
    in_source_tree: bool,
}

impl fmt::Display for Install {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.in_source_tree {
            write!(f, "npm ci --prefix {}", self.prefix.display())
        } else {
            write!(
                f,
                "npm install --prefix {} {CLIENT_PACKAGE}@{}",
                self.prefix.display(),
                pinned_client_version()
            )
        }
    }
}

/// The version of socket.io-client the chat's package.json pins
/// (`unknown` if it could not be read, which a unit test rules out).
pub fn pinned_client_version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        serde_json::from_str::<serde_json::Value>(PACKAGE_JSON)
            .ok()
            .and_then(|v| {
                v["dependencies"][CLIENT_PACKAGE]
                    .as_str()
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "unknown".to_owned())
    })
}

/// The `node_modules` folders looked in, in order: next to the executable,
/// then the chat's folder in the source tree (if that is not the same).
pub fn node_modules_dirs(exe_dir: Option<&Path>, source_dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = exe_dir
        .map(|d| d.join("node_modules"))
        .into_iter()
        .collect();
    let source = source_dir.join("node_modules");
    if !dirs.contains(&source) {
        dirs.push(source);
    }
    dirs
}

/// Whether `dist` holds the page's bundle and its package.json.
pub fn is_usable(dist: &Path) -> bool {
    dist.join(PAGE_BUNDLE).is_file() && dist.join("..").join("package.json").is_file()
}

/// The `version` in `dist/../package.json`, if readable.
pub fn dist_version(dist: &Path) -> Option<String> {
    let raw = std::fs::read(dist.join("..").join("package.json")).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&raw).ok()?;
    value["version"].as_str().map(str::to_owned)
}

/// The npm command to suggest: `npm ci` in the source tree when its
/// package.json is still there, else `npm install` next to the executable.
fn install_hint(exe_dir: Option<&Path>, source_dir: &Path) -> Install {
    if source_dir.join("package.json").is_file() || exe_dir.is_none() {
        Install {
            prefix: source_dir.to_owned(),
            in_source_tree: true,
        }
    } else {
        Install {
            prefix: exe_dir.unwrap_or(source_dir).to_owned(),
            in_source_tree: false,
        }
    }
}

/// The `dist/` folder to serve: `explicit` if given (and usable), else the
/// first usable one of [`node_modules_dirs`].
pub fn find_client_dist_in(
    explicit: Option<&Path>,
    exe_dir: Option<&Path>,
    source_dir: &Path,
) -> Result<PathBuf, AssetsError> {
    let install = || install_hint(exe_dir, source_dir);
    if let Some(dir) = explicit {
        return if is_usable(dir) {
            Ok(dir.to_owned())
        } else {
            Err(AssetsError::Unusable {
                dir: dir.to_owned(),
                install: install(),
            })
        };
    }
    let looked: Vec<PathBuf> = node_modules_dirs(exe_dir, source_dir)
        .into_iter()
        .map(|nm| nm.join(CLIENT_PACKAGE).join("dist"))
        .collect();
    match looked.iter().find(|dist| is_usable(dist)) {
        Some(dist) => Ok(dist.clone()),
        None => Err(AssetsError::NotFound {
            looked,
            install: install(),
        }),
    }
}

/// [`find_client_dist_in`] for this executable and the source tree it was
/// compiled from.
pub fn find_client_dist(explicit: Option<&Path>) -> Result<PathBuf, AssetsError> {
    let exe = std::env::current_exe().ok();
    let exe_dir = exe.as_deref().and_then(Path::parent);
    find_client_dist_in(explicit, exe_dir, Path::new(MANIFEST_DIR))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh empty folder under the target's temporary folder.
    fn scratch(name: &str) -> PathBuf {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sockeye-chat-assets-{}-{}-{name}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Installs a minimal socket.io-client package under `node_modules`.
    fn install_fake(node_modules: &Path) -> PathBuf {
        let pkg = node_modules.join(CLIENT_PACKAGE);
        std::fs::create_dir_all(pkg.join("dist")).unwrap();
        std::fs::write(pkg.join("package.json"), r#"{"version":"4.8.4"}"#).unwrap();
        std::fs::write(pkg.join("dist").join(PAGE_BUNDLE), "/* bundle */").unwrap();
        pkg.join("dist")
    }

    #[test]
    fn the_pinned_version_is_the_one_e2e_pins() {
        assert_eq!(pinned_client_version(), "4.8.4");
        let e2e: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(Path::new(MANIFEST_DIR).join("../../e2e/package.json"))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            e2e["devDependencies"][CLIENT_PACKAGE]
                .as_str()
                .or(e2e["dependencies"][CLIENT_PACKAGE].as_str()),
            Some(pinned_client_version())
        );
    }

    #[test]
    fn an_explicit_folder_wins_and_must_hold_the_bundle() {
        let root = scratch("explicit");
        let exe_dir = root.join("bin");
        let source = root.join("src");
        install_fake(&exe_dir.join("node_modules"));
        let given = install_fake(&root.join("given").join("node_modules"));
        assert_eq!(
            find_client_dist_in(Some(&given), Some(&exe_dir), &source).unwrap(),
            given
        );
        let err = find_client_dist_in(Some(&root.join("empty")), Some(&exe_dir), &source)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("--client-dist "), "{err}");
        assert!(
            err.contains("package.json") && err.contains("4.8.4"),
            "{err}"
        );
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn next_to_the_executable_comes_before_the_source_tree() {
        let root = scratch("order");
        let exe_dir = root.join("bin");
        let source = root.join("src");
        let in_source = install_fake(&source.join("node_modules"));
        assert_eq!(
            find_client_dist_in(None, Some(&exe_dir), &source).unwrap(),
            in_source
        );
        let next_to_exe = install_fake(&exe_dir.join("node_modules"));
        assert_eq!(
            find_client_dist_in(None, Some(&exe_dir), &source).unwrap(),
            next_to_exe
        );
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn a_dist_without_its_package_json_is_not_used() {
        let root = scratch("partial");
        let dist = install_fake(&root.join("node_modules"));
        assert!(is_usable(&dist));
        assert_eq!(dist_version(&dist).as_deref(), Some("4.8.4"));
        std::fs::remove_file(dist.join("..").join("package.json")).unwrap();
        assert!(!is_usable(&dist));
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn nothing_found_names_the_npm_command_and_the_flag() {
        let root = scratch("none");
        let exe_dir = root.join("bin");
        let source = root.join("src");
        // The source tree is still there: `npm ci` in it.
        std::fs::create_dir_all(&source).unwrap();
        std::fs::write(source.join("package.json"), PACKAGE_JSON).unwrap();
        let err = find_client_dist_in(None, Some(&exe_dir), &source)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("run `npm ci --prefix {}`", source.display())),
            "{err}"
        );
        assert!(err.contains("--client-dist DIR"), "{err}");
        assert!(err.contains(&exe_dir.join("node_modules").display().to_string()));
        assert!(!err.contains('\n'), "one line: {err}");
        // The source tree is gone (a copied binary): install next to it.
        std::fs::remove_dir_all(&source).unwrap();
        let err = find_client_dist_in(None, Some(&exe_dir), &source)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!(
                "run `npm install --prefix {} socket.io-client@4.8.4`",
                exe_dir.display()
            )),
            "{err}"
        );
        assert!(!err.contains("scripts/chat"), "{err}");
        std::fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn the_source_tree_is_looked_at_once() {
        let dir = Path::new("/x/chat");
        assert_eq!(
            node_modules_dirs(Some(dir), dir),
            [dir.join("node_modules")]
        );
        assert_eq!(node_modules_dirs(None, dir), [dir.join("node_modules")]);
    }
}
