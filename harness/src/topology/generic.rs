//! Which kind of topology a file is (a Docker host, or a generic lab), the
//! generic lab's parser, and the layout/backend overrides that let one
//! Docker file serve a whole matrix.

use std::path::{Path, PathBuf};

use super::{describe, line_col, parse_docker, read};
use crate::backend::Backend;
use crate::docker::{DockerHostBuilder, Layout, Version};
use crate::error::{Error, Result};
use crate::spec::LabSpec;

/// Top-level keys that make a file a generic lab.
const LAB_KEYS: &[&str] = &[
    "node",
    "docker",
    "alias",
    "bridge",
    "link",
    "address",
    "route",
    "static_neighbours",
];

/// A Docker file's daemon settings replaced at load time (`netrig up
/// --layout v29 --backend nftables`): `None` keeps the file's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Overrides {
    /// The layout to use instead of the file's.
    pub layout: Option<Layout>,
    /// The backend to use instead of the file's.
    pub backend: Option<Backend>,
    /// The Docker release to emulate instead of the file's (its layout
    /// with it, unless `layout` is given too): a real daemon's
    /// ([`LabSpec::real_docker_release`](crate::LabSpec::real_docker_release)).
    pub version: Option<Version>,
}

impl Overrides {
    pub(crate) fn apply(&self, mut b: DockerHostBuilder) -> DockerHostBuilder {
        if let Some(v) = self.version {
            b = b.version(v).layout(v.layout());
        }
        if let Some(l) = self.layout {
            b = b.layout(l);
        }
        if let Some(x) = self.backend {
            b = b.backend(x);
        }
        b
    }
}

/// Parses topology text of either kind; `path` names it in messages and
/// resolves relative rule files. `overrides` apply to every Docker host and
/// are refused for a generic lab without one.
pub(crate) fn parse_any(text: &str, path: &Path, overrides: &Overrides) -> Result<LabSpec> {
    if !is_lab(text) {
        let host = parse_docker(text, path, overrides)?;
        let mut spec = LabSpec::from(host);
        spec.docker[0].file = Some(path.to_path_buf());
        return Ok(spec);
    }
    let lab = parse_lab_with(text, path, overrides)?;
    if *overrides != Overrides::default() && lab.docker.is_empty() {
        return Err(Error::Topology {
            file: path.to_path_buf(),
            message: "--layout and --backend apply to Docker hosts; this file is a generic lab (it has [[node]] entries) without [[docker]] parts".into(),
        });
    }
    Ok(lab)
}

/// Whether the text is a generic lab: it has one of [`LAB_KEYS`] at the
/// top. Text that is not TOML is left to the Docker parser to report.
fn is_lab(text: &str) -> bool {
    toml::from_str::<toml::Table>(text)
        .map(|t| LAB_KEYS.iter().any(|k| t.contains_key(*k)))
        .unwrap_or(false)
}

/// A generic lab file, with `overrides` applied to each Docker part.
fn parse_lab_with(text: &str, path: &Path, overrides: &Overrides) -> Result<LabSpec> {
    let file: PathBuf = path.to_path_buf();
    let doc: super::lab_schema::LabFile = toml::from_str(text).map_err(|e| Error::Topology {
        file: file.clone(),
        message: describe(text, &e),
    })?;
    let located = |l: super::lab_schema::Located| {
        let (line, col) = line_col(text, l.span.start);
        Error::Topology {
            file: file.clone(),
            message: format!("line {line}, column {col}, key `{}`: {}", l.key, l.message),
        }
    };
    let default_name = super::default_name(&file, "lab");
    let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut parts = Vec::new();
    for d in &doc.docker {
        let part_file = base.join(d.file.get_ref());
        if !part_file.is_file() {
            return Err(located(super::lab_schema::Located {
                span: d.file.span(),
                key: "file",
                message: format!(
                    "Docker host file {} does not exist (paths are relative to this file's folder)",
                    part_file.display()
                ),
            }));
        }
        let host = parse_docker(&read(&part_file)?, &part_file, overrides)?;
        parts.push((part_file, host));
    }
    let topo = doc
        .into_topology(default_name, &base, parts)
        .map_err(located)?;
    // The planner's checks (interface names, addresses unique per node …)
    // that the schema did not make: before anything is built.
    crate::wiring::plan(&topo.full_wiring()).map_err(|e| Error::Topology {
        file,
        message: e.to_string(),
    })?;
    tracing::debug!(
        lab = topo.name(),
        nodes = topo.wiring.nodes.len(),
        "parsed generic lab"
    );
    Ok(topo)
}
