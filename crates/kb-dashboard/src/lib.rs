//! The dashboard served at `/_/`: static HTML, CSS and ES modules from `ui/`, written here
//! and used as they are (no bundler). Release builds embed them; debug builds read them from
//! disk, so editing the UI needs no rebuild.
//!
//! Every file but `index.html` is served under `/_/assets/<version>/`, where `<version>`
//! is a digest of all the files: a changed file changes every asset URL, so assets can be
//! cached for good while `index.html` (which names the version) is never cached.

use std::borrow::Cow;
use std::sync::OnceLock;

use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};

#[derive(RustEmbed)]
#[folder = "ui/"]
struct Files;

/// Where the page is mounted.
pub const MOUNT: &str = "/_/";

/// The shell page: the only file not served under the versioned prefix.
const INDEX: &str = "index.html";

/// What `index.html` writes where the versioned asset prefix goes.
const ASSETS_PLACEHOLDER: &str = "{{ASSETS}}";

/// One file to send.
pub struct Asset {
    pub body: Cow<'static, [u8]>,
    pub content_type: String,
}

/// The digest of every file, as the version segment of asset URLs (16 hex digits).
pub fn version() -> String {
    static RELEASE: OnceLock<String> = OnceLock::new();
    if cfg!(debug_assertions) {
        // Files are read from disk per request in debug builds and may have changed.
        return compute_version();
    }
    RELEASE.get_or_init(compute_version).clone()
}

fn compute_version() -> String {
    let mut paths: Vec<Cow<'static, str>> = Files::iter().collect();
    paths.sort();
    let mut digest = Sha256::new();
    for path in paths {
        if let Some(file) = Files::get(&path) {
            digest.update(path.as_bytes());
            digest.update(file.metadata.sha256_hash());
        }
    }
    digest.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The prefix of every asset URL for the current `version`.
pub fn assets_prefix(version: &str) -> String {
    format!("{MOUNT}assets/{version}")
}

/// `index.html` with the asset prefix filled in.
pub fn index_html() -> String {
    let file = Files::get(INDEX).expect("ui/index.html is part of the build");
    String::from_utf8_lossy(&file.data).replace(ASSETS_PLACEHOLDER, &assets_prefix(&version()))
}

/// The file at `path` (relative to `ui/`), unless it is the shell page or not there.
pub fn asset(path: &str) -> Option<Asset> {
    if path == INDEX {
        return None;
    }
    let file = Files::get(path)?;
    Some(Asset {
        content_type: file.metadata.mimetype().to_owned(),
        body: file.data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shell_names_the_versioned_assets() {
        let html = index_html();
        let prefix = assets_prefix(&version());
        assert!(html.contains(&format!("{prefix}/app.js")), "{html}");
        assert!(html.contains(&format!("{prefix}/app.css")), "{html}");
        assert!(!html.contains(ASSETS_PLACEHOLDER));
        assert_eq!(version().len(), 16);
    }

    #[test]
    fn assets_carry_their_content_type_and_the_shell_is_not_one() {
        let js = asset("app.js").expect("app.js");
        assert_eq!(js.content_type, "text/javascript");
        assert_eq!(asset("app.css").expect("app.css").content_type, "text/css");
        assert!(asset("index.html").is_none());
        assert!(asset("../Cargo.toml").is_none());
    }
}
