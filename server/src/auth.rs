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
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The session cookie's name over plain HTTP.
pub const COOKIE_NAME: &str = "convoy_session";
/// The session cookie's name when it is `Secure`: browsers keep a `__Host-` cookie only if it
/// is Secure, host-only and for `/`, so no sibling subdomain can plant or shadow it.
pub const SECURE_COOKIE_NAME: &str = "__Host-convoy_session";
/// Why a token is refused, in an operator's words (the sign-in page shows them as they are).
pub const EXPIRED: &str =
    "the token expired: ask whoever gave it to you (your administrator) for a new one";
pub const NOT_A_TOKEN: &str = "this is not a Convoy sign-in token: paste the whole token \
     (one long line of letters, digits, dots, '-' and '_'), or open the sign-in link";
pub const WRONG_SERVER: &str =
    "this token was made for another Convoy server, or with another key: check the address";

/// Most signed-out sessions remembered until their tokens expire (see [`Auth::revoke`]).
pub const MAX_REVOKED: usize = 1 << 20;
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
    /// Expiry, Unix seconds: the token is refused from that second on.
    pub exp: u64,
    /// Not before, Unix seconds: the token is refused until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
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

/// The keys tokens are checked against, and the sessions signed out before their tokens expire.
#[derive(Clone)]
pub struct Auth {
    shared: Option<DecodingKey>,
    public: Vec<DecodingKey>,
    /// SHA-256 of each signed-out token, with its expiry (Unix ms): kept until then, as the
    /// token itself is refused from then on.
    revoked: Arc<Mutex<HashMap<[u8; 32], u64>>>,
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
        Ok((shared.is_some() || !public.is_empty()).then_some(Auth {
            shared,
            public,
            revoked: Arc::default(),
        }))
    }

    /// Refuses `token` from now on (signing out): every request that carries it afterwards is
    /// 401, on this node. Forgotten once the token expires. At [`MAX_REVOKED`] live entries
    /// the one that expires soonest goes: a token that had little time left anyway.
    pub fn revoke(&self, token: &str, expires_at_ms: u64, now_ms: u64) {
        let mut revoked = self.revoked.lock().unwrap_or_else(|e| e.into_inner());
        revoked.retain(|_, exp| *exp > now_ms);
        if revoked.len() >= MAX_REVOKED {
            if let Some(soonest) = revoked.iter().min_by_key(|(_, exp)| **exp).map(|(k, _)| *k) {
                revoked.remove(&soonest);
            }
        }
        revoked.insert(Sha256::digest(token.as_bytes()).into(), expires_at_ms);
    }

    fn is_revoked(&self, token: &str) -> bool {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.revoked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&key)
    }

    /// The operator a token names at `now_ms` (the server's clock, Unix ms), or why it is
    /// refused: expired (from `exp` on, no grace), not valid yet (before `nbf`), signed out, or
    /// not a token of ours.
    pub fn verify(&self, token: &str, now_ms: u64) -> Result<Operator, String> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| format!("{NOT_A_TOKEN} ({e})"))?;
        let keys: Vec<&DecodingKey> = match header.alg {
            Algorithm::HS256 => self.shared.iter().collect(),
            Algorithm::EdDSA => self.public.iter().collect(),
            other => {
                return Err(format!(
                    "{WRONG_SERVER} (tokens signed with {other:?} are not accepted)"
                ))
            }
        };
        if keys.is_empty() {
            return Err(format!(
                "{WRONG_SERVER} (no key here checks {:?} tokens)",
                header.alg
            ));
        }
        let mut validation = Validation::new(header.alg);
        // Times are checked below in ms on the server's clock, the one a stream ends by: the
        // library's check is in whole seconds and so let a token in for up to a second more.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let mut last = String::new();
        for key in keys {
            match jsonwebtoken::decode::<Claims>(token, key, &validation) {
                Ok(data) => return self.admit(data.claims, token, now_ms),
                Err(e) => last = describe(&e),
            }
        }
        Err(last)
    }

    fn admit(&self, claims: Claims, token: &str, now_ms: u64) -> Result<Operator, String> {
        if now_ms >= claims.exp.saturating_mul(1000) {
            return Err(EXPIRED.into());
        }
        if claims
            .nbf
            .is_some_and(|nbf| now_ms < nbf.saturating_mul(1000))
        {
            return Err(
                "the token is not valid yet (its nbf is ahead of the server's clock)".into(),
            );
        }
        if self.is_revoked(token) {
            return Err("this session was signed out".into());
        }
        Ok(Operator::from_claims(claims))
    }
}

fn describe(error: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::ExpiredSignature => EXPIRED.into(),
        ErrorKind::InvalidSignature => {
            format!("{WRONG_SERVER} (its signature does not match this server's key)")
        }
        other => format!("{NOT_A_TOKEN} ({other:?})"),
    }
}

/// Mints an HS256 token for `convoy-server token`.
pub fn mint(key: &[u8], claims: &Claims) -> Result<String, String> {
    let key = EncodingKey::from_secret(key).map_err(|e| e.to_string())?;
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key).map_err(|e| e.to_string())
}

/// Why a request's token cannot be told.
pub const TWO_COOKIES: &str =
    "two session cookies were sent, so which operator is asking is unclear: sign out and sign in again";

/// The token a request carries: the bearer token, else the session cookie `cookie_name`; an
/// error when the request carries that cookie twice (one may have been planted for a parent
/// domain or another path), rather than picking one.
pub fn token_of(headers: &HeaderMap, cookie_name: &str) -> Result<Option<String>, &'static str> {
    if let Some(bearer) = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Ok(Some(bearer.trim().to_owned()));
    }
    let mut cookies = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == cookie_name)
        .map(|(_, value)| value.to_owned());
    let first = cookies.next();
    match cookies.next() {
        Some(_) => Err(TWO_COOKIES),
        None => Ok(first),
    }
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
        Some(auth) => match token_of(request.headers(), app.settings.cookie_name()) {
            Err(reason) => return unauthorized(reason),
            Ok(None) => {
                return unauthorized("sign in: this route needs a session or a bearer token")
            }
            Ok(Some(token)) => match auth.verify(&token, app.settings.clock.now_ms()) {
                Ok(operator) => operator,
                Err(reason) => return unauthorized(format!("sign in again: {reason}")),
            },
        },
    };
    let name = operator.name.clone();
    request.extensions_mut().insert(operator);
    let mut response = next.run(request).await;
    if let Some(name) = name {
        response.extensions_mut().insert(SignedIn(name));
    }
    response
}

/// The operator a response was made for, for its log line (never their token).
#[derive(Debug, Clone)]
pub struct SignedIn(pub String);

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
    let (name, secure) = if secure {
        (SECURE_COOKIE_NAME, "; Secure")
    } else {
        (COOKIE_NAME, "")
    };
    let text =
        format!("{name}={value}; Path=/; Max-Age={max_age_s}; HttpOnly; SameSite=Lax{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `GET /api/session`: whether auth is on and who is signed in.
pub async fn session(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let signed_out = SessionInfo {
        auth: app.auth.is_some(),
        operator: None,
        trucks: None,
        expires_at_ms: None,
        session: None,
    };
    let Some(auth) = &app.auth else {
        return Json(signed_out).into_response();
    };
    let now_ms = app.settings.clock.now_ms();
    match token_of(&headers, app.settings.cookie_name()) {
        Ok(Some(token)) => match auth.verify(&token, now_ms) {
            Ok(operator) => Json(SessionInfo::of(&operator, &token)).into_response(),
            Err(_) => Json(signed_out).into_response(),
        },
        Ok(None) => Json(signed_out).into_response(),
        Err(reason) => unauthorized(reason),
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
    let now_ms = app.settings.clock.now_ms();
    let operator = match auth.verify(token, now_ms) {
        Ok(operator) => operator,
        Err(reason) => return unauthorized(reason),
    };
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

/// `DELETE /api/session`: signs out: the session's token is refused from now on (on this node)
/// and the cookie is cleared.
pub async fn sign_out(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if let (Some(auth), Ok(Some(token))) =
        (&app.auth, token_of(&headers, app.settings.cookie_name()))
    {
        let now_ms = app.settings.clock.now_ms();
        if let Ok(Operator {
            expires_at_ms: Some(exp),
            ..
        }) = auth.verify(&token, now_ms)
        {
            auth.revoke(&token, exp, now_ms);
        }
    }
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
            revoked: Arc::default(),
        }
    }

    fn claims(trucks: Scope, exp: u64) -> Claims {
        Claims {
            sub: "ana".into(),
            trucks,
            exp,
            nbf: None,
        }
    }

    fn now_s() -> u64 {
        now_ms() / 1000
    }

    fn now_ms() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    #[test]
    fn a_token_is_refused_from_its_exp_on_and_before_its_nbf_on_the_callers_clock() {
        let exp = now_s() + 60;
        let token = mint(KEY, &claims(Scope::All, exp)).unwrap();
        assert!(auth().verify(&token, exp * 1000 - 1).is_ok());
        assert_eq!(
            auth().verify(&token, exp * 1000),
            Err(EXPIRED.into()),
            "no grace past exp"
        );
        let nbf = now_s() + 30;
        let later = mint(
            KEY,
            &Claims {
                nbf: Some(nbf),
                ..claims(Scope::All, exp)
            },
        )
        .unwrap();
        assert!(auth()
            .verify(&later, nbf * 1000 - 1)
            .unwrap_err()
            .contains("not valid yet"));
        assert!(auth().verify(&later, nbf * 1000).is_ok());
    }

    #[test]
    fn a_revoked_token_is_refused_until_it_expires_and_then_forgotten() {
        let auth = auth();
        let now = now_ms();
        let token = mint(KEY, &claims(Scope::All, now_s() + 60)).unwrap();
        let other = mint(KEY, &claims(Scope::All, now_s() + 61)).unwrap();
        auth.revoke(&token, (now_s() + 60) * 1000, now);
        assert_eq!(
            auth.verify(&token, now),
            Err("this session was signed out".into())
        );
        assert!(auth.verify(&other, now).is_ok());
        // Past its expiry the entry goes with the next sign-out.
        auth.revoke(&other, (now_s() + 61) * 1000, (now_s() + 60) * 1000 + 1);
        assert_eq!(auth.revoked.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_minted_token_names_its_operator_and_scope() {
        let scope = Scope::Trucks(["T-01".to_owned(), "T-02".to_owned()].into());
        let token = mint(KEY, &claims(scope.clone(), now_s() + 60)).unwrap();
        let operator = auth().verify(&token, now_ms()).unwrap();
        assert_eq!(operator.name.as_deref(), Some("ana"));
        assert_eq!(operator.scope, scope);
    }

    #[test]
    fn expired_forged_and_foreign_tokens_are_refused() {
        let expired = mint(KEY, &claims(Scope::All, now_s() - 1)).unwrap();
        assert_eq!(auth().verify(&expired, now_ms()), Err(EXPIRED.into()));
        let forged = mint(
            b"another key, long enough to be one",
            &claims(Scope::All, now_s() + 60),
        )
        .unwrap();
        assert!(auth()
            .verify(&forged, now_ms())
            .unwrap_err()
            .contains("signature"));
        assert!(auth().verify("not.a.token", now_ms()).is_err());
        // In words an operator acts on: not a token at all, or one of another server.
        assert!(auth()
            .verify("hello", now_ms())
            .unwrap_err()
            .starts_with(NOT_A_TOKEN));
        assert!(auth()
            .verify(&forged, now_ms())
            .unwrap_err()
            .starts_with(WRONG_SERVER));
        let unsigned =
            "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbmEiLCJ0cnVja3MiOiIqIiwiZXhwIjo5OTk5OTk5OTk5fQ.";
        assert!(
            auth().verify(unsigned, now_ms()).is_err(),
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
        assert_eq!(token_of(&headers, COOKIE_NAME), Ok(Some("tok".into())));
        assert_eq!(token_of(&headers, SECURE_COOKIE_NAME), Ok(None));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer other"));
        assert_eq!(token_of(&headers, COOKIE_NAME), Ok(Some("other".into())));
        assert_eq!(token_of(&HeaderMap::new(), COOKIE_NAME), Ok(None));
    }

    #[test]
    fn two_session_cookies_are_refused_rather_than_one_picked() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("convoy_session=mine"));
        headers.append(COOKIE, HeaderValue::from_static("convoy_session=planted"));
        assert_eq!(token_of(&headers, COOKIE_NAME), Err(TWO_COOKIES));
        let mut one_header = HeaderMap::new();
        one_header.insert(
            COOKIE,
            HeaderValue::from_static("convoy_session=planted; convoy_session=mine"),
        );
        assert_eq!(token_of(&one_header, COOKIE_NAME), Err(TWO_COOKIES));
    }
}
