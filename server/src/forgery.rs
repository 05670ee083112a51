//! Cross-site request forgery. A browser sends the session cookie with every request to the
//! API, whichever page made it, and `SameSite=Lax` lets a sibling subdomain's page through
//! (the split CDN/API setup needs the two to share a site). So a state change that the cookie
//! authenticates must come from the app's own origin (the request's host, or `--public-url`) or
//! an `--allow-origin`, and a `POST` must carry a JSON content type, which an HTML form cannot
//! send and another origin's script can send only after a CORS preflight that this server
//! answers for the allowed origins alone.
//!
//! Checked: every `POST`, `PUT`, `PATCH` and `DELETE` under `/api` that carries no bearer token,
//! and `/api/session` always (signing in turns a token into the cookie, and a forged sign-in
//! would swap the operator). A bearer token is never sent by a browser on its own, so requests
//! that carry one (ingest, scripts) are not forgeries. A request with neither `Origin` nor
//! `Sec-Fetch-Site` comes from no browser and passes.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, ORIGIN};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Why a state change was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forgery {
    /// 403: a page of another origin sent it.
    ForeignOrigin(String),
    /// 415: not a JSON body.
    NotJson,
}

impl IntoResponse for Forgery {
    fn into_response(self) -> Response {
        match self {
            Forgery::ForeignOrigin(origin) => ApiError {
                status: StatusCode::FORBIDDEN,
                message: format!(
                    "a page of {origin} cannot change anything with this operator's session: \
                     only the app's own origin and --allow-origin origins can"
                ),
            },
            Forgery::NotJson => ApiError {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                message: "send Content-Type: application/json".to_owned(),
            },
        }
        .into_response()
    }
}

/// Checks one request (see the module docs). `path` is relative to `/api`; `trusted` are the
/// origins trusted besides the request's own host.
pub fn check(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    trusted: &[String],
) -> Result<(), Forgery> {
    let changes_state = matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let session_route = path.trim_end_matches('/') == "/session";
    if !changes_state || (headers.contains_key(AUTHORIZATION) && !session_route) {
        return Ok(());
    }
    check_origin(headers, trusted)?;
    if *method != Method::DELETE && !is_json(headers) {
        return Err(Forgery::NotJson);
    }
    Ok(())
}

fn check_origin(headers: &HeaderMap, trusted: &[String]) -> Result<(), Forgery> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match text(ORIGIN.as_str()) {
        Some(origin) => {
            let own = text(HOST.as_str()).is_some_and(|host| {
                origin
                    .strip_prefix("https://")
                    .or_else(|| origin.strip_prefix("http://"))
                    == Some(host)
            });
            if own || trusted.iter().any(|t| t == origin) {
                Ok(())
            } else {
                Err(Forgery::ForeignOrigin(origin.to_owned()))
            }
        }
        // Browsers that send no `Origin` with this request still say where it came from.
        None => match text("sec-fetch-site") {
            None | Some("same-origin" | "none") => Ok(()),
            Some(site) => Err(Forgery::ForeignOrigin(format!("a {site} page"))),
        },
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// Middleware for `/api`: refuses what [`check`] refuses.
pub async fn refuse_cross_site_changes(
    State(app): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    match check(
        request.method(),
        request.uri().path(),
        request.headers(),
        &app.settings.trusted_origins,
    ) {
        Ok(()) => next.run(request).await,
        Err(forgery) => forgery.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    const JSON: (&str, &str) = ("content-type", "application/json");
    const HOST_API: (&str, &str) = ("host", "api.example.com");

    #[test]
    fn the_apps_own_and_allowed_origins_may_change_state_with_the_cookie() {
        let trusted = ["https://app.example.com".to_owned()];
        for origin in ["https://api.example.com", "https://app.example.com"] {
            let h = {
                let mut h = headers(&[JSON, HOST_API]);
                h.insert(ORIGIN, HeaderValue::from_static(origin));
                h
            };
            assert_eq!(check(&Method::POST, "/alerts/5/ack", &h, &trusted), Ok(()));
        }
        let same = headers(&[JSON, HOST_API, ("sec-fetch-site", "same-origin")]);
        assert_eq!(
            check(&Method::POST, "/alerts/5/ack", &same, &trusted),
            Ok(())
        );
        // No browser at all: nothing a page could forge.
        assert_eq!(
            check(&Method::POST, "/alerts/5/ack", &headers(&[JSON]), &trusted),
            Ok(())
        );
    }

    #[test]
    fn foreign_and_sibling_pages_and_forms_are_refused() {
        let trusted = ["https://app.example.com".to_owned()];
        let evil = headers(&[JSON, HOST_API, ("origin", "https://evil.example.net")]);
        assert!(matches!(
            check(&Method::POST, "/alerts/5/ack", &evil, &trusted),
            Err(Forgery::ForeignOrigin(_))
        ));
        let sibling = headers(&[JSON, HOST_API, ("sec-fetch-site", "same-site")]);
        assert!(check(&Method::DELETE, "/session", &sibling, &trusted).is_err());
        let null = headers(&[JSON, HOST_API, ("origin", "null")]);
        assert!(check(&Method::POST, "/alerts/5/ack", &null, &trusted).is_err());
        let form = headers(&[
            HOST_API,
            ("origin", "https://app.example.com"),
            ("content-type", "application/x-www-form-urlencoded"),
        ]);
        assert_eq!(
            check(&Method::POST, "/alerts/5/ack", &form, &trusted),
            Err(Forgery::NotJson)
        );
    }

    #[test]
    fn bearer_requests_pass_except_signing_in_and_reads_always_pass() {
        let bearer = headers(&[
            HOST_API,
            ("authorization", "Bearer t"),
            ("origin", "https://evil.example.net"),
        ]);
        assert_eq!(check(&Method::POST, "/ingest", &bearer, &[]), Ok(()));
        assert!(check(&Method::POST, "/session", &bearer, &[]).is_err());
        let evil_get = headers(&[HOST_API, ("origin", "https://evil.example.net")]);
        assert_eq!(check(&Method::GET, "/fleet", &evil_get, &[]), Ok(()));
    }
}
