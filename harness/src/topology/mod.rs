//! Topology files: TOML describing a Docker host or a generic lab, parsed
//! with serde into one validated [`LabSpec`] ([`load`]); a Docker host file
//! is a lab of that host (its part `"host"`), its containers and an
//! internet node.
//!
//! Unknown keys are refused, and every error names the file, the line and
//! column, and the key. Networks are created in file order, then containers
//! are started in file order, unless a top-level `order` lists every network
//! and container name in creation order (the order decides where Docker
//! inserts rules).
//! In `order`, `"restart"` restarts the daemon (iptables backends) and
//! `"start:NAME"` is `docker start NAME` of a container the restart stopped.
//!
//! ```toml
//! # A web server on the default bridge, published on port 8080.
//! name = "docker-bridge"
//! order = ["web", "backend", "db"]   # optional: creation order
//!
//! [daemon]
//! layout = "classic"          # classic | v28 | v29
//! backend = "iptables-nft"    # iptables-nft | iptables-legacy | nftables (v29 only)
//! userland_proxy = true
//! # ip_forward_no_drop = true   # v28, v29: --ip-forward-no-drop
//! # allow_direct_routing = true # v28, v29: --allow-direct-routing
//!
//! [[network]]
//! name = "backend"
//! subnet = "172.18.0.0/16"
//! # gateway_mode_ipv4 = "routed"  # v28, v29: nat | nat-unprotected | routed
//!
//! [[container]]
//! name = "web"
//! ports = ["8080:80"]
//!
//! [[container]]
//! name = "db"
//! network = "backend"         # a network name, or host | none | container:NAME
//! ip = "172.18.0.10"
//! ```
//!
//! ```
//! let spec = netrig::topology::parse("[[container]]\nname = \"web\"\nports = [\"8080:80\"]\n", "inline.toml")?;
//! assert_eq!(spec.docker_host("host").unwrap().containers()[0].name, "web");
//! let err = netrig::topology::parse("[[container]]\nname = \"web\"\nport = [\"8080:80\"]\n", "bad.toml").unwrap_err();
//! assert!(err.to_string().contains("bad.toml: line 3, column 1"));
//! # Ok::<_, netrig::Error>(())
//! ```

mod generic;
mod lab_schema;
mod schema;

use std::path::{Path, PathBuf};

use crate::docker::DockerHost;
use crate::error::{Error, Result};
use crate::spec::LabSpec;

pub use generic::Overrides;

/// Reads a topology file of either kind: a Docker host (`[daemon]`,
/// `[[network]]`, `[[container]]` …: a lab of the host, its containers and
/// an internet node, with the part `"host"`) or a generic lab (`[[node]]`,
/// `[[link]]`, `[[docker]]` parts …). Errors name the file, line, column
/// and key.
pub fn load(path: impl AsRef<Path>) -> Result<LabSpec> {
    load_with(path, &Overrides::default())
}

/// [`load`], with every Docker host's layout and backend replaced by
/// `overrides` where it gives them (refused for a lab without Docker hosts).
pub fn load_with(path: impl AsRef<Path>, overrides: &Overrides) -> Result<LabSpec> {
    let path = path.as_ref();
    generic::parse_any(&read(path)?, path, overrides)
}

/// A file's text, or an error naming it.
fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::Topology {
        file: path.to_path_buf(),
        message: format!("cannot read: {e}"),
    })
}

/// Parses topology text of either kind, as [`load`] reads a file; `path`
/// names it in messages and resolves relative rule files.
pub fn parse(text: &str, path: impl AsRef<Path>) -> Result<LabSpec> {
    generic::parse_any(text, path.as_ref(), &Overrides::default())
}

/// Parses a Docker host file's text, then applies `overrides`.
fn parse_docker(text: &str, path: &Path, overrides: &Overrides) -> Result<DockerHost> {
    let file: PathBuf = path.to_path_buf();
    let doc: schema::File = toml::from_str(text).map_err(|e| Error::Topology {
        file: file.clone(),
        message: describe(text, &e),
    })?;
    let default_name = default_name(&file, "docker");
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    doc.into_builder(default_name)
        .and_then(|mut b| {
            for (key, r) in b
                .rule_files
                .iter_mut()
                .map(|r| ("rules", r))
                .chain(b.existing_files.iter_mut().map(|r| ("before.rules", r)))
                .chain(b.ufw.files.iter_mut().map(|r| ("before.ufw_files", r)))
                .chain(b.ruleset_file.iter_mut().map(|r| ("ruleset", r)))
                .chain(b.ruleset6_file.iter_mut().map(|r| ("ruleset6", r)))
            {
                if r.is_relative() {
                    *r = base.join(&*r);
                }
                if !r.is_file() {
                    return Err(Error::invalid(
                        crate::Subject::default(),
                        key,
                        format!("rule file {} does not exist (paths are relative to the topology file's folder)", r.display()),
                    ));
                }
            }
            overrides.apply(b).build()
        })
        .map_err(|e| Error::Topology {
            message: locate(text, &e),
            file,
        })
}

/// `line L, column C[, key `k`]: message` for a TOML error.
fn describe(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim();
    match e.span() {
        Some(span) => {
            let (line, col) = line_col(text, span.start);
            match key_at(text, span.start, span.end) {
                Some(k) if !msg.contains(&format!("`{k}`")) => {
                    format!("line {line}, column {col}, key `{k}`: {msg}")
                }
                _ => format!("line {line}, column {col}: {msg}"),
            }
        }
        None => msg.to_string(),
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[start..].chars().count() + 1)
}

/// The key a span belongs to: the span itself when it is a bare key, else
/// the key before the nearest `=` on the span's line.
fn key_at(text: &str, start: usize, end: usize) -> Option<String> {
    let start = start.min(text.len());
    let end = end.clamp(start, text.len());
    let spanned = text[start..end].trim();
    let is_key = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if is_key(spanned) && text[end..].trim_start().starts_with('=') {
        return Some(spanned.to_string());
    }
    let line_start = text[..start].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let head = &text[line_start..start];
    let eq = head.rfind('=')?;
    let key = head[..eq]
        .rsplit(|c: char| c == '{' || c == ',' || c.is_whitespace())
        .find(|s| !s.is_empty())?
        .trim_matches('"');
    is_key(key).then(|| key.to_string())
}

/// Adds the line of the `name = "…"` entry a validation error is about.
fn locate(text: &str, e: &Error) -> String {
    let Error::Invalid {
        subject,
        field,
        message,
    } = e
    else {
        return e.to_string();
    };
    let name = field
        .split('"')
        .nth(1)
        .map(str::to_string)
        .or_else(|| subject.node.as_deref().map(str::to_string));
    // An error about a name given twice is about the second entry.
    let repeat = usize::from(field.ends_with(" name"));
    let line = name.and_then(|n| {
        let entries: Vec<usize> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| {
                let l: String = l.chars().filter(|c| !c.is_whitespace()).collect();
                l.starts_with(&format!("name=\"{n}\""))
            })
            .map(|(i, _)| i)
            .collect();
        entries.get(repeat).or(entries.first()).copied()
    });
    let where_ = match line {
        Some(i) => format!("line {}: ", i + 1),
        None => String::new(),
    };
    format!("{where_}{field}: {message}")
}

#[cfg(test)]
mod doc_tests;
#[cfg(test)]
mod lab_tests;
#[cfg(test)]
mod tests;

/// A lab's name from its file's stem (`topologies/docker-bridge.toml` →
/// `docker-bridge`), or `fallback` when the stem is not a valid name.
pub(crate) fn default_name(file: &Path, fallback: &str) -> String {
    file.file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| crate::net::check_name(s).is_ok())
        .unwrap_or(fallback)
        .to_string()
}
