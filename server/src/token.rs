//! `convoy-server token`: mints an HS256 token for an operator with the server's key, and prints
//! it alone on the first line, then a sign-in link (the token in the fragment, so it reaches no
//! server log).

use clap::Parser;
use convoy_server::auth::{self, Claims, Scope};
use std::path::PathBuf;
use std::process::ExitCode;

/// Mint a sign-in token for an operator.
#[derive(Debug, Parser)]
#[command(name = "convoy-server token")]
struct TokenArgs {
    /// The HS256 key file the server runs with (`--auth-key-file`).
    #[arg(long, value_name = "FILE")]
    key_file: PathBuf,
    /// The operator's name.
    #[arg(long)]
    sub: String,
    /// `all`, or the trucks the operator may see: `T-01,T-02`.
    #[arg(long, default_value = "all")]
    trucks: String,
    /// How long the token lasts, seconds.
    #[arg(long, default_value_t = 8 * 3600, value_name = "SECONDS")]
    ttl_s: u64,
    /// The app's address, for the sign-in link.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
}

fn scope(trucks: &str) -> Result<Scope, String> {
    if trucks == "all" || trucks == "*" {
        return Ok(Scope::All);
    }
    let list: Vec<String> = trucks.split(',').map(|t| t.trim().to_owned()).collect();
    serde_json::from_value(serde_json::json!(list)).map_err(|e| format!("--trucks: {e}"))
}

/// Runs the subcommand on `args` (without the program name and `token`).
pub fn main(args: impl Iterator<Item = String>) -> ExitCode {
    let args = TokenArgs::parse_from(std::iter::once("convoy-server token".to_owned()).chain(args));
    let fail = |message: String| {
        eprintln!("convoy-server token: {message}");
        ExitCode::from(2)
    };
    if args.sub.trim().is_empty() || args.sub.len() > 200 {
        return fail("--sub must name the operator (1 to 200 characters)".into());
    }
    if args.ttl_s == 0 || args.ttl_s > 366 * 24 * 3600 {
        return fail("--ttl-s must be between 1 second and a year".into());
    }
    let trucks = match scope(&args.trucks) {
        Ok(scope) => scope,
        Err(e) => return fail(e),
    };
    let key = match auth::read_shared_key(&args.key_file) {
        Ok(key) => key,
        Err(e) => return fail(e.to_string()),
    };
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims = Claims {
        sub: args.sub,
        trucks,
        exp: now_s + args.ttl_s,
        nbf: None,
    };
    match auth::mint(&key, &claims) {
        Ok(token) => {
            // A reader that stops early (`| head -1`) closes the pipe: that is not an error.
            use std::io::Write;
            let link = format!("{}/signin#token={token}", args.url.trim_end_matches('/'));
            let _ = writeln!(std::io::stdout().lock(), "{token}\n{link}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
