//! The build's transfer: each js, wasm and css file of `dist/` raw, gzip -9 and brotli, and
//! which of them a page of the app loads at once (what the built `index.html` names).

use serde::Serialize;
use std::io::Write;

#[derive(Serialize)]
pub struct Size {
    pub file: String,
    pub raw: usize,
    pub gzip: usize,
    /// The build's `.br` sibling (brotli -q 11), else the `brotli` CLI's; `None` without either.
    pub brotli: Option<usize>,
    /// Named by the built `index.html` (its module script, preloads, stylesheet): loaded with
    /// the page.
    pub initial: bool,
    /// Named by `sw.js` or `index.html`, whose assets the service worker precaches.
    pub precached: bool,
}

/// Every js, wasm and css file of `dist`, by name.
pub fn transfer_sizes(dist: &str) -> Vec<Size> {
    let mut sizes = Vec::new();
    let Ok(entries) = std::fs::read_dir(dist) else {
        return sizes;
    };
    let index_html = std::fs::read_to_string(format!("{dist}/index.html")).unwrap_or_default();
    let sw = std::fs::read_to_string(format!("{dist}/sw.js")).unwrap_or_default();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.ends_with(".wasm") || name.ends_with(".js") || name.ends_with(".css")) {
            continue;
        }
        let Ok(bytes) = std::fs::read(entry.path()) else {
            continue;
        };
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let gzip = encoder
            .write_all(&bytes)
            .and_then(|()| encoder.finish())
            .map(|v| v.len())
            .unwrap_or_default();
        let brotli = std::fs::metadata(entry.path().with_file_name(format!("{name}.br")))
            .map(|m| m.len() as usize)
            .ok()
            .or_else(|| {
                let out = std::process::Command::new("brotli")
                    .args(["-c", "-q", "11"])
                    .arg(entry.path())
                    .output()
                    .ok()?;
                out.status.success().then_some(out.stdout.len())
            });
        let initial = index_html.contains(&format!("/{name}"));
        sizes.push(Size {
            precached: initial || sw.contains(&name),
            file: name,
            raw: bytes.len(),
            gzip,
            brotli,
            initial,
        });
    }
    sizes.sort_by(|a, b| a.file.cmp(&b.file));
    sizes
}

/// The initial load's total: (raw, gzip, brotli when every file has one).
pub fn initial_total(sizes: &[Size]) -> (usize, usize, Option<usize>) {
    let (mut raw, mut gzip, mut brotli) = (0, 0, Some(0));
    for s in sizes.iter().filter(|s| s.initial) {
        raw += s.raw;
        gzip += s.gzip;
        brotli = brotli.zip(s.brotli).map(|(a, b)| a + b);
    }
    (raw, gzip, brotli)
}
