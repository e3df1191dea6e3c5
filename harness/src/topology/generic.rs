//! Which kind of topology a file is (a Docker host, or a generic lab), the
//! generic lab's parser, and the layout/backend overrides that let one
//! Docker file serve a whole matrix.

use std::path::{Path, PathBuf};

use super::lab::LabTopology;
use super::{describe, line_col, parse_with, read};
use crate::backend::Backend;
use crate::docker::{DockerHost, DockerHostBuilder, Layout};
use crate::error::{Error, Result};

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
}

impl Overrides {
    pub(crate) fn apply(&self, mut b: DockerHostBuilder) -> DockerHostBuilder {
        if let Some(l) = self.layout {
            b = b.layout(l);
        }
        if let Some(x) = self.backend {
            b = b.backend(x);
        }
        b
    }
}

/// A parsed topology file of either kind.
#[derive(Debug, Clone)]
pub enum Topology {
    /// One emulated Docker host (`[daemon]`, `[[network]]`, `[[container]]` …).
    Docker(DockerHost),
    /// A generic lab (`[[node]]`, `[[link]]`, `[[bridge]]` …).
    Lab(LabTopology),
}

/// Reads a topology file of either kind; `overrides` apply to a Docker
/// host and are refused for a generic lab (it has no daemon).
pub fn load_any(path: impl AsRef<Path>, overrides: &Overrides) -> Result<Topology> {
    let path = path.as_ref();
    parse_any(&read(path)?, path, overrides)
}

/// Parses topology text of either kind; `path` names it in messages and
/// resolves relative rule files.
pub fn parse_any(text: &str, path: impl AsRef<Path>, overrides: &Overrides) -> Result<Topology> {
    let path = path.as_ref();
    if !is_lab(text) {
        return parse_with(text, path, overrides).map(Topology::Docker);
    }
    let lab = parse_lab_with(text, path, overrides)?;
    if *overrides != Overrides::default() && lab.docker.is_empty() {
        return Err(Error::Topology {
            file: path.to_path_buf(),
            message: "--layout and --backend apply to Docker hosts; this file is a generic lab (it has [[node]] entries) without [[docker]] parts".into(),
        });
    }
    Ok(Topology::Lab(lab))
}

/// Whether the text is a generic lab: it has one of [`LAB_KEYS`] at the
/// top. Text that is not TOML is left to the Docker parser to report.
fn is_lab(text: &str) -> bool {
    toml::from_str::<toml::Table>(text)
        .map(|t| LAB_KEYS.iter().any(|k| t.contains_key(*k)))
        .unwrap_or(false)
}

/// Reads and parses a generic lab file.
pub fn load_lab(path: impl AsRef<Path>) -> Result<LabTopology> {
    let path = path.as_ref();
    parse_lab(&read(path)?, path)
}

/// Parses a generic lab file; `path` names it in messages and resolves
/// relative rule files. Every error names the file, line, column and key of
/// the offending entry.
///
/// ```
/// let lab = netrig::topology::parse_lab(
///     "[[node]]\nname = \"a\"\n[[node]]\nname = \"b\"\n[[link]]\n\
///      a = { node = \"a\", ifname = \"eth0\", addresses = [\"10.0.0.1/24\"] }\n\
///      b = { node = \"b\", ifname = \"eth0\", addresses = [\"10.0.0.2/24\"] }\n",
///     "pair.toml",
/// )?;
/// assert_eq!(lab.spec.links.len(), 1);
/// let err = netrig::topology::parse_lab("[[node]]\nname = \"a\"\n[[route]]\nnode = \"b\"\nto = \"default\"\nvia = \"10.0.0.1\"\n", "bad.toml").unwrap_err();
/// assert!(err.to_string().contains("bad.toml: line 4, column 8, key `node`"), "{err}");
/// # Ok::<_, netrig::Error>(())
/// ```
pub fn parse_lab(text: &str, path: impl AsRef<Path>) -> Result<LabTopology> {
    parse_lab_with(text, path.as_ref(), &Overrides::default())
}

/// [`parse_lab`], with `overrides` applied to each Docker part.
fn parse_lab_with(text: &str, path: &Path, overrides: &Overrides) -> Result<LabTopology> {
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
        let host = super::load_with(&part_file, overrides)?;
        parts.push((part_file, host));
    }
    let topo = doc
        .into_topology(default_name, &base, parts)
        .map_err(located)?;
    // The planner's checks (interface names, addresses unique per node …)
    // that the schema did not make: before anything is built.
    crate::spec::plan(&topo.full_spec()).map_err(|e| Error::Topology {
        file,
        message: e.to_string(),
    })?;
    tracing::debug!(
        lab = topo.name(),
        nodes = topo.spec.nodes.len(),
        "parsed generic lab"
    );
    Ok(topo)
}
