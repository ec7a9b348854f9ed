//! Server-rendered HTML: the login page, error pages and the authorization-response pages
//! (`form_post`, `web_message`). Every interpolated value is escaped for its context.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// Escapes text for HTML element content and double-quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Serialises a value as a JSON literal safe inside an inline `<script>`.
pub fn js_literal(v: &serde_json::Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f3f4f6;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}\
main{background:#fff;padding:2rem 2.5rem;border-radius:12px;box-shadow:0 4px 24px #0002;width:min(22rem,90vw)}\
h1{font-size:1.3rem;margin:0 0 1rem}label{display:block;margin:.8rem 0 .3rem;font-size:.9rem}\
input{width:100%;box-sizing:border-box;padding:.6rem;border:1px solid #bbb;border-radius:6px;font-size:1rem}\
button{margin-top:1.2rem;width:100%;padding:.7rem;border:0;border-radius:6px;background:#2d5be3;color:#fff;font-size:1rem;cursor:pointer}\
.error{color:#b00020;background:#fde8ec;padding:.6rem;border-radius:6px;font-size:.9rem}";

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{}</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        esc(title)
    );
    let mut res = (status, Html(html)).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        // No `form-action`: browsers apply it to the redirect that follows the login POST too,
        // and that redirect goes to the application's registered callback.
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // `same-origin`, not `no-referrer`: with `no-referrer` browsers send `Origin: null` on the
    // login POST, which the CSRF check could not tell from a cross-site post.
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    res
}

/// An error that must not be redirected (unknown client, unregistered redirect URI).
pub fn error_page(status: StatusCode, message: &str) -> Response {
    page(status, "Error", &format!("<h1>Something went wrong</h1><p class=\"error\">{}</p>", esc(message)))
}

pub fn message_page(title: &str, message: &str) -> Response {
    page(StatusCode::OK, title, &format!("<h1>{}</h1><p>{}</p>", esc(title), esc(message)))
}

/// The login form. `tx` is the sealed login transaction.
pub fn login_page(status: StatusCode, client_name: &str, tx: &str, username: &str, error: Option<&str>) -> Response {
    let error = error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", esc(e))).unwrap_or_default();
    page(
        status,
        "Sign in",
        &format!(
            "<h1>Sign in to {}</h1>{error}<form method=\"POST\" action=\"/u/login\">\
             <input type=\"hidden\" name=\"state\" value=\"{}\">\
             <label for=\"username\">Email</label><input id=\"username\" name=\"username\" type=\"email\" autocomplete=\"username\" required autofocus value=\"{}\">\
             <label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
             <button type=\"submit\">Continue</button></form>",
            esc(client_name),
            esc(tx),
            esc(username)
        ),
    )
}

/// The logout confirmation (OpenID Connect RP-Initiated Logout 1.0 §2): a POST form to `action`
/// carrying the sealed confirmation.
pub fn logout_page(action: &str, confirmation: &str, client_name: Option<&str>) -> Response {
    let from = client_name.map(|n| format!("<p>{} asks to sign you out.</p>", esc(n))).unwrap_or_default();
    page(
        StatusCode::OK,
        "Sign out",
        &format!(
            "<h1>Sign out?</h1>{from}<form method=\"POST\" action=\"{}\">\
             <input type=\"hidden\" name=\"confirmation\" value=\"{}\">\
             <button type=\"submit\" id=\"confirm-logout\">Sign out</button></form>",
            esc(action),
            esc(confirmation)
        ),
    )
}

/// OAuth 2.0 Form Post Response Mode: an auto-submitting form to the redirect URI.
pub fn form_post(redirect_uri: &str, params: &[(&str, String)]) -> Response {
    let nonce = ratchet_core::secret::random_token();
    let inputs: String = params.iter().map(|(k, v)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", esc(k), esc(v))).collect();
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Submit</title></head><body>\
         <form method=\"post\" action=\"{}\">{inputs}<noscript><button type=\"submit\">Continue</button></noscript></form>\
         <script nonce=\"{nonce}\">document.forms[0].submit()</script></body></html>",
        esc(redirect_uri)
    );
    let mut res = Html(html).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("default-src 'none'; script-src 'nonce-{nonce}'; form-action *; frame-ancestors 'none'"))
    {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    res
}

/// Web Message Response Mode: posts `{type:"authorization_response", response}` to
/// `target_origin` only. The page may be framed only by that origin (silent authentication runs
/// it in a hidden iframe of the application).
pub fn web_message(target_origin: &str, params: &[(&str, String)]) -> Response {
    let nonce = ratchet_core::secret::random_token();
    let response: serde_json::Map<String, serde_json::Value> =
        params.iter().map(|(k, v)| (k.to_string(), serde_json::Value::from(v.clone()))).collect();
    let message = serde_json::json!({"type": "authorization_response", "response": response});
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Authorization Response</title></head><body>\
         <script nonce=\"{nonce}\">(function(){{var target={};var msg={};var w=window.opener||window.parent;w.postMessage(msg,target);}})();</script></body></html>",
        js_literal(&serde_json::Value::from(target_origin)),
        js_literal(&message)
    );
    let mut res = Html(html).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("default-src 'none'; script-src 'nonce-{nonce}'; frame-ancestors {target_origin}")) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    res
}

/// `302 Found` to `location` (the status RFC 6749 §4.1.2 uses for authorization responses).
pub fn found(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => {
            let mut res = StatusCode::FOUND.into_response();
            res.headers_mut().insert(header::LOCATION, v);
            res
        }
        Err(_) => error_page(StatusCode::BAD_REQUEST, "Invalid redirect location"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_neutralises_markup() {
        assert_eq!(esc("<a href=\"x\">'&"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;");
        assert_eq!(js_literal(&serde_json::Value::from("</script><x>")), "\"\\u003c/script\\u003e\\u003cx\\u003e\"");
    }
}
