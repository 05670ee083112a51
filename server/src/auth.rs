//! Sign-in: operators hold signed tokens (JWT) whose claims say who they are (`sub`), which
//! trucks they may see (`trucks`: a list, or `"*"`) and until when (`exp`). HS256 tokens are
//! checked against the key in `--auth-key-file` (and `convoy-server token` mints them); EdDSA
//! tokens against the public keys in `--auth-public-key`, so a company's identity provider can
//! mint its own.
//!
//! `POST /api/session` with `Authorization: Bearer <token>` turns a token into an HttpOnly,
//! SameSite=Lax cookie; every other `/api` route but `/api/session`, `/api/health` and
//! `/api/ingest` (which has its own tokens) then needs that cookie or the bearer token. The
//! operator's scope is enforced where data leaves: the fleet, the map, a truck (404 outside the
//! scope, so existence does not leak) and the stream (which ends when the token expires, with a
//! `signed_out` event). Without keys, auth is off and every request sees every truck.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use convoy_core::sse;
use convoy_core::wire::{is_valid_truck_id, TruckId, Watch};
use futures_util::{Stream, StreamExt};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeSet;
use std::convert::Infallible;
use std::path::Path;
use std::time::Duration;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "convoy_session";
/// The SSE event that ends a stream whose token expired.
pub const SIGNED_OUT_EVENT: &str = "signed_out";
/// Shortest HS256 key: a shorter secret could be guessed.
pub const MIN_KEY_BYTES: usize = 32;
/// Most trucks a token may name.
pub const MAX_SCOPE_TRUCKS: usize = 10_000;

/// Which trucks an operator may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every truck (`"*"`).
    All,
    /// These trucks only.
    Trucks(BTreeSet<TruckId>),
}

impl Scope {
    pub fn includes(&self, truck: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Trucks(trucks) => trucks.contains(truck),
        }
    }

    /// The watch a stream asked for, within this scope: `all` means the operator's trucks;
    /// naming a truck outside the scope is refused (403).
    pub fn restrict(&self, asked: &Watch) -> Result<Watch, ApiError> {
        match (self, asked) {
            (Scope::All, watch) => Ok(watch.clone()),
            (Scope::Trucks(mine), Watch::All) => Ok(Watch::Trucks(mine.clone())),
            (Scope::Trucks(mine), Watch::Trucks(asked)) => match asked.difference(mine).next() {
                Some(truck) => Err(ApiError {
                    status: StatusCode::FORBIDDEN,
                    message: format!("truck {truck} is outside this operator's scope"),
                }),
                None => Ok(Watch::Trucks(asked.clone())),
            },
        }
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Scope::All => serializer.serialize_str("*"),
            Scope::Trucks(trucks) => trucks.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Star(String),
            List(Vec<String>),
        }
        use serde::de::Error;
        match Raw::deserialize(deserializer)? {
            Raw::Star(star) if star == "*" => Ok(Scope::All),
            Raw::Star(other) => Err(D::Error::custom(format!(
                "trucks must be \"*\" or a list, not {other:?}"
            ))),
            Raw::List(list) if list.len() > MAX_SCOPE_TRUCKS => Err(D::Error::custom(format!(
                "a token may name at most {MAX_SCOPE_TRUCKS} trucks"
            ))),
            Raw::List(list) => match list.iter().find(|id| !is_valid_truck_id(id)) {
                Some(bad) => Err(D::Error::custom(format!("invalid truck id {bad:?}"))),
                None => Ok(Scope::Trucks(list.into_iter().collect())),
            },
        }
    }
}

/// A token's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The operator.
    pub sub: String,
    pub trucks: Scope,
    /// Expiry, Unix seconds.
    pub exp: u64,
}

/// Who is asking, as the handlers see it (auth off: an anonymous operator with every truck).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub name: Option<String>,
    pub scope: Scope,
    /// When the token expires, Unix ms (`None` with auth off).
    pub expires_at_ms: Option<u64>,
}

impl Operator {
    /// Every truck, no name: what requests see with auth off.
    pub fn anonymous() -> Operator {
        Operator {
            name: None,
            scope: Scope::All,
            expires_at_ms: None,
        }
    }

    fn from_claims(claims: Claims) -> Operator {
        Operator {
            name: Some(claims.sub),
            scope: claims.trucks,
            expires_at_ms: Some(claims.exp.saturating_mul(1000)),
        }
    }
}

/// Why the keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
}

/// The keys tokens are checked against.
#[derive(Clone)]
pub struct Auth {
    shared: Option<DecodingKey>,
    public: Vec<DecodingKey>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("shared_key", &self.shared.is_some())
            .field("public_keys", &self.public.len())
            .finish()
    }
}

/// Reads an HS256 key file: its bytes, less a trailing newline.
pub fn read_shared_key(path: &Path) -> Result<Vec<u8>, KeyError> {
    let bytes = std::fs::read(path).map_err(|error| KeyError::Read {
        path: path.display().to_string(),
        error,
    })?;
    let key = bytes.trim_ascii_end().to_vec();
    if key.len() < MIN_KEY_BYTES {
        return Err(KeyError::Invalid {
            path: path.display().to_string(),
            reason: format!("an HS256 key needs at least {MIN_KEY_BYTES} bytes"),
        });
    }
    Ok(key)
}

impl Auth {
    /// Loads the HS256 key and the EdDSA public keys (PEM); `None` when there are none (auth
    /// off).
    pub fn load(
        shared: Option<&Path>,
        public: &[impl AsRef<Path>],
    ) -> Result<Option<Auth>, KeyError> {
        let shared = shared
            .map(|path| {
                let key = read_shared_key(path)?;
                DecodingKey::from_secret(&key).map_err(|e| KeyError::Invalid {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })
            })
            .transpose()?;
        let public = public
            .iter()
            .map(|path| {
                let path = path.as_ref();
                let pem = std::fs::read(path).map_err(|error| KeyError::Read {
                    path: path.display().to_string(),
                    error,
                })?;
                DecodingKey::from_ed_pem(&pem).map_err(|e| KeyError::Invalid {
                    path: path.display().to_string(),
                    reason: format!("not an Ed25519 public key in PEM ({e})"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((shared.is_some() || !public.is_empty()).then_some(Auth { shared, public }))
    }

    /// The operator a token names, or why it is refused (expired tokens included).
    pub fn verify(&self, token: &str) -> Result<Operator, String> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| format!("not a signed token ({e})"))?;
        let keys: Vec<&DecodingKey> = match header.alg {
            Algorithm::HS256 => self.shared.iter().collect(),
            Algorithm::EdDSA => self.public.iter().collect(),
            other => return Err(format!("tokens signed with {other:?} are not accepted")),
        };
        if keys.is_empty() {
            return Err(format!("no key here checks {:?} tokens", header.alg));
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let mut last = String::new();
        for key in keys {
            match jsonwebtoken::decode::<Claims>(token, key, &validation) {
                Ok(data) => return Ok(Operator::from_claims(data.claims)),
                Err(e) => last = describe(&e),
            }
        }
        Err(last)
    }
}

fn describe(error: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::ExpiredSignature => "the token expired".into(),
        ErrorKind::InvalidSignature => "the token's signature does not match".into(),
        other => format!("the token is not valid ({other:?})"),
    }
}

/// Mints an HS256 token for `convoy-server token`.
pub fn mint(key: &[u8], claims: &Claims) -> Result<String, String> {
    let key = EncodingKey::from_secret(key).map_err(|e| e.to_string())?;
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key).map_err(|e| e.to_string())
}

/// The token a request carries: the bearer token, else the session cookie.
pub fn token_of(headers: &HeaderMap) -> Option<String> {
    if let Some(bearer) = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(bearer.trim().to_owned());
    }
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.to_owned())
}

fn unauthorized(message: impl Into<String>) -> Response {
    ApiError {
        status: StatusCode::UNAUTHORIZED,
        message: message.into(),
    }
    .into_response()
}

/// Middleware for the `/api` routes that need a signed-in operator: puts the [`Operator`] in
/// the request's extensions, or answers 401.
pub async fn require(State(app): State<AppState>, mut request: Request, next: Next) -> Response {
    let operator = match &app.auth {
        None => Operator::anonymous(),
        Some(auth) => match token_of(request.headers()) {
            None => return unauthorized("sign in: this route needs a session or a bearer token"),
            Some(token) => match auth.verify(&token) {
                Ok(operator) => operator,
                Err(reason) => return unauthorized(format!("sign in again: {reason}")),
            },
        },
    };
    request.extensions_mut().insert(operator);
    next.run(request).await
}

/// What `/api/session` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// Whether this server asks for sign-in at all.
    pub auth: bool,
    /// The signed-in operator (None: not signed in, or auth off).
    pub operator: Option<String>,
    pub trucks: Option<Scope>,
    pub expires_at_ms: Option<u64>,
    /// Names this session (not secret): tabs keep their channel, lock and cache per session, so
    /// one operator's cached trucks never reach another's tabs.
    pub session: Option<String>,
}

impl SessionInfo {
    fn of(operator: &Operator, token: &str) -> SessionInfo {
        SessionInfo {
            auth: true,
            operator: operator.name.clone(),
            trucks: Some(operator.scope.clone()),
            expires_at_ms: operator.expires_at_ms,
            session: Some(session_name(token)),
        }
    }
}

/// A short, stable name for a token (FNV-1a): identifies the session without revealing it.
fn session_name(token: &str) -> String {
    let hash = token.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

fn cookie(value: &str, max_age_s: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!(
        "{COOKIE_NAME}={value}; Path=/; Max-Age={max_age_s}; HttpOnly; SameSite=Lax{secure}"
    );
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `GET /api/session`: whether auth is on and who is signed in.
pub async fn session(State(app): State<AppState>, headers: HeaderMap) -> Json<SessionInfo> {
    let signed_out = SessionInfo {
        auth: app.auth.is_some(),
        operator: None,
        trucks: None,
        expires_at_ms: None,
        session: None,
    };
    let Some(auth) = &app.auth else {
        return Json(signed_out);
    };
    match token_of(&headers).map(|token| (auth.verify(&token), token)) {
        Some((Ok(operator), token)) => Json(SessionInfo::of(&operator, &token)),
        _ => Json(signed_out),
    }
}

/// `POST /api/session` with `Authorization: Bearer <token>`: signs in (sets the cookie).
pub async fn sign_in(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let Some(auth) = &app.auth else {
        return ApiError::not_found("sign-in is off on this server").into_response();
    };
    let Some(token) = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
    else {
        return unauthorized("send the token as Authorization: Bearer <token>");
    };
    let operator = match auth.verify(token) {
        Ok(operator) => operator,
        Err(reason) => return unauthorized(reason),
    };
    let now_ms = app.settings.clock.now_ms();
    let max_age_s = operator
        .expires_at_ms
        .map_or(0, |exp| exp.saturating_sub(now_ms) / 1000);
    let mut response = Json(SessionInfo::of(&operator, token)).into_response();
    response.headers_mut().insert(
        SET_COOKIE,
        cookie(token, max_age_s, app.settings.secure_cookies),
    );
    response
}

/// `DELETE /api/session`: signs out (clears the cookie).
pub async fn sign_out(State(app): State<AppState>) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(SET_COOKIE, cookie("", 0, app.settings.secure_cookies));
    response
}

/// A stream's body that ends when the operator's token expires, with a `signed_out` event so
/// the app can say why.
pub fn end_at_expiry(
    body: impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static,
    expires_at_ms: Option<u64>,
    now_ms: u64,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    let deadline = expires_at_ms.map(|exp| Duration::from_millis(exp.saturating_sub(now_ms)));
    let expired = async move {
        match deadline {
            Some(after) => tokio::time::sleep(after).await,
            None => std::future::pending().await,
        }
    };
    let notice = sse::encode_event(
        None,
        Some(SIGNED_OUT_EVENT),
        r#"{"reason":"the session expired"}"#,
    );
    let farewell = futures_util::stream::once(async move { Ok(Bytes::from(notice)) });
    let ended = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = ended.clone();
    let until = async move {
        expired.await;
        flag.store(true, std::sync::atomic::Ordering::Release);
    };
    body.take_until(Box::pin(until))
        .chain(farewell.filter(move |_| {
            let expired = ended.load(std::sync::atomic::Ordering::Acquire);
            async move { expired }
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn auth() -> Auth {
        Auth {
            shared: Some(DecodingKey::from_secret(KEY).unwrap()),
            public: Vec::new(),
        }
    }

    fn claims(trucks: Scope, exp: u64) -> Claims {
        Claims {
            sub: "ana".into(),
            trucks,
            exp,
        }
    }

    fn now_s() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    #[test]
    fn a_minted_token_names_its_operator_and_scope() {
        let scope = Scope::Trucks(["T-01".to_owned(), "T-02".to_owned()].into());
        let token = mint(KEY, &claims(scope.clone(), now_s() + 60)).unwrap();
        let operator = auth().verify(&token).unwrap();
        assert_eq!(operator.name.as_deref(), Some("ana"));
        assert_eq!(operator.scope, scope);
    }

    #[test]
    fn expired_forged_and_foreign_tokens_are_refused() {
        let expired = mint(KEY, &claims(Scope::All, now_s() - 1)).unwrap();
        assert_eq!(auth().verify(&expired), Err("the token expired".into()));
        let forged = mint(
            b"another key, long enough to be one",
            &claims(Scope::All, now_s() + 60),
        )
        .unwrap();
        assert!(auth().verify(&forged).unwrap_err().contains("signature"));
        assert!(auth().verify("not.a.token").is_err());
        let unsigned =
            "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbmEiLCJ0cnVja3MiOiIqIiwiZXhwIjo5OTk5OTk5OTk5fQ.";
        assert!(
            auth().verify(unsigned).is_err(),
            "alg none is never accepted"
        );
    }

    #[test]
    fn scopes_read_star_or_a_list_and_restrict_streams() {
        let all: Scope = serde_json::from_str(r#""*""#).unwrap();
        assert_eq!(all, Scope::All);
        let some: Scope = serde_json::from_str(r#"["T-01","T-02"]"#).unwrap();
        assert!(some.includes("T-01") && !some.includes("T-03"));
        assert!(serde_json::from_str::<Scope>(r#""all""#).is_err());
        assert!(serde_json::from_str::<Scope>(r#"["T 01"]"#).is_err());
        let mine: BTreeSet<TruckId> = ["T-01".to_owned(), "T-02".to_owned()].into();
        assert_eq!(some.restrict(&Watch::All), Ok(Watch::Trucks(mine)));
        let asked = Watch::Trucks(["T-02".to_owned()].into());
        assert_eq!(some.restrict(&asked), Ok(asked.clone()));
        let outside = Watch::Trucks(["T-02".to_owned(), "T-09".to_owned()].into());
        assert_eq!(
            some.restrict(&outside).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
    }

    #[test]
    fn the_token_comes_from_the_bearer_header_or_the_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; convoy_session=tok; b=2"),
        );
        assert_eq!(token_of(&headers).as_deref(), Some("tok"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer other"));
        assert_eq!(token_of(&headers).as_deref(), Some("other"));
        assert_eq!(token_of(&HeaderMap::new()), None);
    }
}
