//! The Convoy single-page app, built by trunk for wasm32.

#[cfg(target_arch = "wasm32")]
fn main() {
    convoy::web::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("convoy is a browser app: run `cargo xtask dev` to build and serve it");
    std::process::exit(2);
}
