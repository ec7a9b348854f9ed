//! `GET /admin/…`: the admin console (docs/admin-console.md), a single-page app built from
//! `admin/` and embedded in the binary (the committed bundle in `crates/server/admin-dist/`; the
//! test command fails when a fresh build differs from it). Served from the issuer's own origin
//! under a strict Content Security Policy: nothing inline, nothing from elsewhere, no framing.
//! The console signs in through `/authorize` as the `ratchet-admin` client and calls `/api/v2`.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::http::pages;

/// Only this origin's scripts, styles, worker and API; images only inline SVG data; no frames.
pub const CSP: &str = "default-src 'none'; script-src 'self'; worker-src 'self'; connect-src 'self'; style-src 'self'; \
     img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The bundle's files: (name, content type, bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("index.html", "text/html; charset=utf-8", include_bytes!("../../admin-dist/index.html")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../../admin-dist/app.js")),
    ("app.css", "text/css; charset=utf-8", include_bytes!("../../admin-dist/app.css")),
    ("ratchet-spa.worker.js", "text/javascript; charset=utf-8", include_bytes!("../../admin-dist/ratchet-spa.worker.js")),
];

/// `/admin` → `/admin/` (the console's callback URL, and the base of its relative paths).
pub async fn redirect() -> Response {
    pages::found("/admin/")
}

/// `/admin/`: the console's page (its views are `#/…` fragments of this one URL).
pub async fn index() -> Response {
    asset("index.html")
}

/// `/admin/{file}`: a file of the bundle, or 404.
pub async fn file(Path(name): Path<String>) -> Response {
    asset(&name)
}

fn asset(name: &str) -> Response {
    let Some((_, content_type, bytes)) = ASSETS.iter().find(|(n, _, _)| *n == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut res = bytes.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Revalidated on every load: a new server version serves a new console at once.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    res
}
