//! The app's addresses. Components link to them; `app` decides which page each one shows.

/// Every page of the app. Links are real links, so "open in new tab" works too.
#[derive(Clone, PartialEq, Debug)]
pub enum Route {
    /// `/`
    Fleet,
    /// `/trucks/:id`
    Truck { id: String },
    /// Trucks side by side; the layout is the query: `/board?trucks=T-03,T-01`.
    Board,
    /// `/map`
    Map,
    /// `/diagnostics`
    Diagnostics,
    /// `/settings`
    Settings,
    /// Paste a token, or follow a sign-in link (`/signin#token=…`).
    SignIn,
    /// `/404`, and every path no other page claims.
    NotFound,
}

impl Route {
    /// The page `pathname` names; rules as yew-router's derive had them: one trailing `/` is
    /// ignored, `:id` is one non-empty segment, percent-decoded (not UTF-8: no page), and any
    /// other path is `NotFound`.
    pub fn recognize(pathname: &str) -> Route {
        let path = pathname.strip_suffix('/').unwrap_or(pathname);
        let path = path.strip_prefix('/').unwrap_or(path);
        match path {
            "" => Route::Fleet,
            "board" => Route::Board,
            "map" => Route::Map,
            "diagnostics" => Route::Diagnostics,
            "settings" => Route::Settings,
            "signin" => Route::SignIn,
            _ => path
                .strip_prefix("trucks/")
                .filter(|id| !id.is_empty() && !id.contains('/'))
                .and_then(decode_segment)
                .map_or(Route::NotFound, |id| Route::Truck { id }),
        }
    }

    /// The route's path (below the app's public URL); the truck id percent-encoded.
    pub fn to_path(&self) -> String {
        match self {
            Route::Fleet => "/".into(),
            Route::Truck { id } => format!("/trucks/{}", encode_segment(id)),
            Route::Board => "/board".into(),
            Route::Map => "/map".into(),
            Route::Diagnostics => "/diagnostics".into(),
            Route::Settings => "/settings".into(),
            Route::SignIn => "/signin".into(),
            Route::NotFound => "/404".into(),
        }
    }
}

/// A path segment percent-encoded as `urlencoding::encode` does: all but `A-Z a-z 0-9 - . _ ~`.
fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(HEX[usize::from(byte >> 4)] as char);
            out.push(HEX[usize::from(byte & 15)] as char);
        }
    }
    out
}

/// Decodes `%XX` escapes (others stay as they are); `None` when the bytes are not UTF-8.
fn decode_segment(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}
