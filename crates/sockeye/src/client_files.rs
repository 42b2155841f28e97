//! The official client bundles, served from memory next to the server (the
//! reference's `serveClient` option).
//!
//! [`crate::SocketIoBuilder::serve_client`] names the `dist/` folder of the
//! npm package `socket.io-client`; the files are read once, when the server
//! is built, and answered at `<path>socket.io.js`, `socket.io.min.js`,
//! `socket.io.esm.min.js`, `socket.io.msgpack.min.js` and their `.map`s,
//! with the package version as ETag (`If-None-Match` gives 304), `Cache-Control:
//! public, max-age=0`, gzip when the client accepts it, and the engine's CORS
//! headers when CORS is on.

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use sockeye_engine::CorsConfig;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// The bundles served, each also with its `.map`.
pub(crate) const BUNDLES: [&str; 4] = [
    "socket.io.js",
    "socket.io.min.js",
    "socket.io.esm.min.js",
    "socket.io.msgpack.min.js",
];

const JS: &str = "application/javascript; charset=utf-8";
const MAP: &str = "application/json";
const CACHE_CONTROL: &str = "public, max-age=0";

/// Why the client files could not be loaded.
#[derive(Debug)]
pub(crate) struct LoadError {
    path: PathBuf,
    what: &'static str,
    source: Option<io::Error>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "serve_client: {} {}", self.what, self.path.display())?;
        if let Some(e) = &self.source {
            write!(f, ": {e}")?;
        }
        f.write_str(
            " (give the dist/ folder of the npm package socket.io-client, \
             e.g. node_modules/socket.io-client/dist)",
        )
    }
}

impl std::error::Error for LoadError {}

struct File {
    content_type: &'static str,
    plain: Bytes,
    gzip: Bytes,
}

/// The client files, in memory, and where they are answered.
pub(crate) struct ClientFiles {
    /// The engine path with exactly one trailing slash: `/socket.io/`.
    base: String,
    version: String,
    etag: HeaderValue,
    files: HashMap<String, File>,
}

impl fmt::Debug for ClientFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&String> = self.files.keys().collect();
        names.sort();
        f.debug_struct("ClientFiles")
            .field("base", &self.base)
            .field("version", &self.version)
            .field("files", &names)
            .finish()
    }
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|source| LoadError {
        path: path.to_owned(),
        what,
        source: Some(source),
    })
}

fn gzip(data: &[u8]) -> Bytes {
    let mut enc = GzEncoder::new(Vec::with_capacity(data.len() / 3), Compression::default());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    Bytes::from(enc.finish().unwrap_or_default())
}

/// The `version` of a package.json, when it can go into an ETag.
fn package_version(json: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(json).ok()?;
    let version = value.get("version")?.as_str()?;
    // An ETag is a quoted string of visible ASCII other than `"`.
    let ok = !version.is_empty() && version.bytes().all(|b| b.is_ascii_graphic() && b != b'"');
    ok.then(|| version.to_owned())
}

impl ClientFiles {
    /// Reads the bundles (required) and their maps (optional) from `dist`,
    /// and the version from `dist/../package.json`; `path` is the engine's
    /// path.
    pub(crate) fn load(dist: &Path, path: &str) -> Result<Self, LoadError> {
        let package_json = dist.join("..").join("package.json");
        let raw = read(&package_json, "cannot read")?;
        let version = package_version(&raw).ok_or_else(|| LoadError {
            path: package_json.clone(),
            what: "found no usable \"version\" in",
            source: None,
        })?;
        let etag = HeaderValue::try_from(format!("\"{version}\""))
            .expect("the version was checked to be visible ASCII");

        let mut files = HashMap::new();
        for bundle in BUNDLES {
            let js = read(&dist.join(bundle), "cannot read the client bundle")?;
            files.insert(
                bundle.to_owned(),
                File {
                    content_type: JS,
                    gzip: gzip(&js),
                    plain: Bytes::from(js),
                },
            );
            let map_name = format!("{bundle}.map");
            if let Ok(map) = std::fs::read(dist.join(&map_name)) {
                files.insert(
                    map_name,
                    File {
                        content_type: MAP,
                        gzip: gzip(&map),
                        plain: Bytes::from(map),
                    },
                );
            }
        }
        let base = format!("{}/", path.trim_end_matches('/'));
        Ok(ClientFiles {
            base,
            version,
            etag,
            files,
        })
    }

    /// The client's version (from its package.json).
    #[cfg(test)]
    pub(crate) fn version(&self) -> &str {
        &self.version
    }

    /// The answer to `req` when it asks for one of the files (GET or HEAD
    /// of `<path><file>`, any query); `None` leaves the request to the
    /// engine.
    pub(crate) fn respond<B>(
        &self,
        req: &Request<B>,
        cors: Option<&CorsConfig>,
    ) -> Option<Response<Full<Bytes>>> {
        let head = req.method() == Method::HEAD;
        if req.method() != Method::GET && !head {
            return None;
        }
        let name = req.uri().path().strip_prefix(self.base.as_str())?;
        let file = self.files.get(name)?;

        let mut headers = HeaderMap::new();
        headers.insert(header::ETAG, self.etag.clone());
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(CACHE_CONTROL),
        );
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        if let Some(cors) = cors {
            cors.apply_actual(req.headers(), &mut headers);
        }

        if if_none_match(req.headers(), &self.etag) {
            let mut res = Response::new(Full::new(Bytes::new()));
            *res.status_mut() = StatusCode::NOT_MODIFIED;
            *res.headers_mut() = headers;
            return Some(res);
        }

        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(file.content_type),
        );
        let body = if accepts_gzip(req.headers()) {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            file.gzip.clone()
        } else {
            file.plain.clone()
        };
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        let body = if head { Bytes::new() } else { body };
        let mut res = Response::new(Full::new(body));
        *res.headers_mut() = headers;
        Some(res)
    }
}

/// Whether `If-None-Match` names our ETag, strong or weak (`W/"4.8.4"`), or
/// is `*`. A list (`"a", W/"b"`) matches when one of its entries does.
fn if_none_match(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let etag = etag.as_bytes();
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| {
            tag == "*" || {
                let tag = tag.strip_prefix("W/").unwrap_or(tag);
                tag.as_bytes() == etag
            }
        })
}

/// Whether `Accept-Encoding` accepts gzip (`gzip` or `*`, with a non-zero
/// quality).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut gzip = None;
    let mut star = None;
    for item in headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or("").to_ascii_lowercase();
        let mut q = 1.0_f32;
        for param in parts {
            if let Some(v) = param
                .strip_prefix("q=")
                .or_else(|| param.strip_prefix("Q="))
            {
                q = v.trim().parse().unwrap_or(0.0);
            }
        }
        match coding.as_str() {
            "gzip" | "x-gzip" => gzip = Some(q > 0.0),
            "*" => star = Some(q > 0.0),
            _ => {}
        }
    }
    gzip.or(star).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use http_body_util::BodyExt as _;
    use sockeye_engine::AllowedOrigins;
    use std::io::Read as _;

    /// A fake `socket.io-client` package in a fresh temporary folder.
    struct FakePackage {
        root: PathBuf,
    }

    impl FakePackage {
        fn new(tag: &str, version: &str, maps: bool) -> Self {
            let root = std::env::temp_dir().join(format!(
                "sockeye-client-files-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = std::fs::remove_dir_all(&root);
            let dist = root.join("dist");
            std::fs::create_dir_all(&dist).unwrap();
            std::fs::write(
                root.join("package.json"),
                format!("{{\"name\":\"socket.io-client\",\"version\":\"{version}\"}}"),
            )
            .unwrap();
            for bundle in BUNDLES {
                let body = format!("/* {bundle} */ {}", "var io = 1;\n".repeat(200));
                std::fs::write(dist.join(bundle), body).unwrap();
                if maps {
                    std::fs::write(dist.join(format!("{bundle}.map")), "{\"version\":3}").unwrap();
                }
            }
            FakePackage { root }
        }

        fn dist(&self) -> PathBuf {
            self.root.join("dist")
        }
    }

    impl Drop for FakePackage {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }

    fn get(uri: &str) -> http::request::Builder {
        Request::builder().method(Method::GET).uri(uri)
    }

    async fn body(res: Response<Full<Bytes>>) -> Bytes {
        res.into_body().collect().await.unwrap().to_bytes()
    }

    #[tokio::test]
    async fn serves_every_bundle_and_map_with_headers() {
        let pkg = FakePackage::new("all", "4.8.4", true);
        let files = ClientFiles::load(&pkg.dist(), "/socket.io/").unwrap();
        assert_eq!(files.version(), "4.8.4");
        for bundle in BUNDLES {
            let res = files
                .respond(
                    &get(&format!("/socket.io/{bundle}")).body(()).unwrap(),
                    None,
                )
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            let h = res.headers();
            assert_eq!(h[header::CONTENT_TYPE], JS);
            assert_eq!(h[header::ETAG], "\"4.8.4\"");
            assert_eq!(h[header::CACHE_CONTROL], "public, max-age=0");
            assert!(h.get(header::CONTENT_ENCODING).is_none());
            let b = body(res).await;
            assert!(b.starts_with(format!("/* {bundle} */").as_bytes()));

            let res = files
                .respond(
                    &get(&format!("/socket.io/{bundle}.map?x=1"))
                        .body(())
                        .unwrap(),
                    None,
                )
                .unwrap();
            assert_eq!(res.headers()[header::CONTENT_TYPE], MAP);
            assert_eq!(body(res).await, "{\"version\":3}");
        }
    }

    #[test]
    fn other_paths_and_methods_go_to_the_engine() {
        let pkg = FakePackage::new("other", "1.0.0", false);
        let files = ClientFiles::load(&pkg.dist(), "/socket.io").unwrap();
        let none = |req: Request<()>| files.respond(&req, None).is_none();
        assert!(none(
            get("/socket.io/?EIO=4&transport=polling").body(()).unwrap()
        ));
        assert!(none(get("/socket.io/socket.io.js.map").body(()).unwrap()));
        assert!(none(get("/socket.io/other.js").body(()).unwrap()));
        assert!(none(get("/socket.io.js").body(()).unwrap()));
        assert!(none(get("/other/socket.io.js").body(()).unwrap()));
        assert!(none(
            Request::post("/socket.io/socket.io.js").body(()).unwrap()
        ));
        // A path given without its trailing slash serves under `<path>/`.
        assert!(!none(get("/socket.io/socket.io.js").body(()).unwrap()));
    }

    #[tokio::test]
    async fn custom_path() {
        let pkg = FakePackage::new("path", "4.8.4", true);
        let files = ClientFiles::load(&pkg.dist(), "/chat/io/").unwrap();
        let res = files
            .respond(&get("/chat/io/socket.io.min.js").body(()).unwrap(), None)
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(
            files
                .respond(&get("/socket.io/socket.io.min.js").body(()).unwrap(), None)
                .is_none()
        );
    }

    #[tokio::test]
    async fn if_none_match_gives_304() {
        let pkg = FakePackage::new("etag", "4.8.4", false);
        let files = ClientFiles::load(&pkg.dist(), "/socket.io/").unwrap();
        for tag in ["\"4.8.4\"", "W/\"4.8.4\"", "\"1.0\", W/\"4.8.4\"", "*"] {
            let req = get("/socket.io/socket.io.js")
                .header(header::IF_NONE_MATCH, tag)
                .body(())
                .unwrap();
            let res = files.respond(&req, None).unwrap();
            assert_eq!(res.status(), StatusCode::NOT_MODIFIED, "{tag}");
            assert_eq!(res.headers()[header::ETAG], "\"4.8.4\"");
            assert!(body(res).await.is_empty());
        }
        for tag in ["\"4.8.3\"", "4.8.4", "W/\"4.8.40\""] {
            let req = get("/socket.io/socket.io.js")
                .header(header::IF_NONE_MATCH, tag)
                .body(())
                .unwrap();
            assert_eq!(
                files.respond(&req, None).unwrap().status(),
                StatusCode::OK,
                "{tag}"
            );
        }
    }

    #[tokio::test]
    async fn gzip_when_accepted() {
        let pkg = FakePackage::new("gzip", "4.8.4", false);
        let files = ClientFiles::load(&pkg.dist(), "/socket.io/").unwrap();
        let plain = body(
            files
                .respond(&get("/socket.io/socket.io.js").body(()).unwrap(), None)
                .unwrap(),
        )
        .await;
        for (accept, gz) in [
            ("gzip, deflate, br", true),
            ("br;q=1.0, gzip;q=0.5", true),
            ("*", true),
            ("gzip;q=0", false),
            ("deflate", false),
            ("identity", false),
            ("gzip;q=0, *", false),
        ] {
            let req = get("/socket.io/socket.io.js")
                .header(header::ACCEPT_ENCODING, accept)
                .body(())
                .unwrap();
            let res = files.respond(&req, None).unwrap();
            let encoding = res.headers().get(header::CONTENT_ENCODING).cloned();
            let len: usize = res.headers()[header::CONTENT_LENGTH]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            let b = body(res).await;
            assert_eq!(len, b.len());
            if gz {
                assert_eq!(encoding.unwrap(), "gzip", "{accept}");
                assert!(b.len() < plain.len());
                let mut out = Vec::new();
                GzDecoder::new(&b[..]).read_to_end(&mut out).unwrap();
                assert_eq!(out, plain);
            } else {
                assert!(encoding.is_none(), "{accept}");
                assert_eq!(b, plain);
            }
        }
    }

    #[tokio::test]
    async fn head_has_headers_and_no_body() {
        let pkg = FakePackage::new("head", "4.8.4", false);
        let files = ClientFiles::load(&pkg.dist(), "/socket.io/").unwrap();
        let req = Request::head("/socket.io/socket.io.min.js")
            .body(())
            .unwrap();
        let res = files.respond(&req, None).unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_ne!(res.headers()[header::CONTENT_LENGTH], "0");
        assert!(body(res).await.is_empty());
    }

    #[test]
    fn cors_headers_follow_the_engine() {
        let pkg = FakePackage::new("cors", "4.8.4", false);
        let files = ClientFiles::load(&pkg.dist(), "/socket.io/").unwrap();
        let cors = CorsConfig::new(AllowedOrigins::list(["http://a.test"])).with_credentials(true);
        let req = |origin: &str| {
            get("/socket.io/socket.io.js")
                .header(header::ORIGIN, origin)
                .body(())
                .unwrap()
        };
        let res = files.respond(&req("http://a.test"), Some(&cors)).unwrap();
        let h = res.headers();
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], "http://a.test");
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        let res = files.respond(&req("http://b.test"), Some(&cors)).unwrap();
        assert!(
            res.headers()
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .is_none()
        );
        let res = files.respond(&req("http://a.test"), None).unwrap();
        assert!(
            res.headers()
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .is_none()
        );
    }

    #[test]
    fn load_errors_name_the_file() {
        let pkg = FakePackage::new("missing", "4.8.4", false);
        std::fs::remove_file(pkg.dist().join("socket.io.esm.min.js")).unwrap();
        let err = ClientFiles::load(&pkg.dist(), "/socket.io/").unwrap_err();
        assert!(err.to_string().contains("socket.io.esm.min.js"), "{err}");

        let err = ClientFiles::load(Path::new("/nonexistent/dist"), "/socket.io/").unwrap_err();
        assert!(err.to_string().contains("package.json"), "{err}");

        let pkg = FakePackage::new("badversion", "a\\\"b", false);
        let err = ClientFiles::load(&pkg.dist(), "/socket.io/").unwrap_err();
        assert!(err.to_string().contains("version"), "{err}");
    }

    #[test]
    fn maps_are_optional() {
        let pkg = FakePackage::new("nomaps", "4.8.4", false);
        let files = ClientFiles::load(&pkg.dist(), "/socket.io/").unwrap();
        assert!(
            files
                .respond(&get("/socket.io/socket.io.min.js").body(()).unwrap(), None)
                .is_some()
        );
        assert!(
            files
                .respond(
                    &get("/socket.io/socket.io.min.js.map").body(()).unwrap(),
                    None
                )
                .is_none()
        );
    }
}
