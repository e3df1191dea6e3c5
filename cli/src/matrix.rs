//! `netrig matrix`, `netrig diff` and `netrig trace`: bring the topology up
//! (a Docker host file or a generic lab; no pins, nothing kept), probe,
//! print, take it down. `--rules NODE=FILE` names a generic lab's node.
//!
//! Exit status: `matrix` and `trace` 0, or 2 on error; `diff` 0 when no
//! cell changed, 1 when some did (like `diff`), 2 on error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use netrig::Lab;
use netrig::reach::{Cell, DEFAULT_DEADLINE, Format, Matrix, MatrixDiff, trace_cell};
use netrig::topology::Overrides;

/// Exit status for an error (as `diff`).
const ERROR: u8 = 2;

/// A `--rules` value: `FILE`, or `NODE=FILE` for a node of a generic lab;
/// `ufw:FILE` or `firewalld:FILE` (`NODE=ufw:FILE` …) for a file of ufw
/// commands or of `firewall-cmd` argument lists, one a line, run by the
/// real ufw or firewalld on a Docker host (the one its topology runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesArg {
    node: Option<String>,
    kind: Kind,
    path: PathBuf,
}

/// What a `--rules` file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Rules: an iptables-save fragment or an nft file.
    Rules,
    /// Firewall manager commands: `ufw:` or `firewalld:` (which manager
    /// runs them is the host's, `LabSpec::manager_file`).
    Manager,
}

impl std::str::FromStr for RulesArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (node, rest) = match s.split_once('=') {
            Some((node, path)) if !node.is_empty() && !node.contains('/') => {
                (Some(node.to_string()), path)
            }
            _ => (None, s),
        };
        let manager = ["ufw:", "firewalld:"]
            .iter()
            .find_map(|p| rest.strip_prefix(p));
        let (kind, path) = match manager {
            Some(path) => (Kind::Manager, path),
            None => (Kind::Rules, rest),
        };
        Ok(RulesArg {
            node,
            kind,
            path: path.into(),
        })
    }
}

/// Brings `file` up (with `overrides`) with extra rule `files` after the
/// topology's, as lab `name`.
fn up(file: &Path, files: &[RulesArg], name: &str, overrides: &Overrides) -> netrig::Result<Lab> {
    netrig::privilege::check()?;
    let mut spec = netrig::topology::load_with(file, overrides)?;
    for f in files {
        spec = add_rules(file, spec, f)?;
    }
    spec.set_name(name);
    spec.up()
}

/// Adds a `--rules` file to its node (a Docker part's host: loaded after
/// Docker's rules, with the part's backend), which may go unnamed when
/// exactly one node has rules.
fn add_rules(file: &Path, spec: netrig::LabSpec, f: &RulesArg) -> netrig::Result<netrig::LabSpec> {
    let with_rules = spec.rule_nodes();
    let bad = |message: String| netrig::Error::Topology {
        file: file.to_path_buf(),
        message,
    };
    let node = match (&f.node, with_rules.as_slice()) {
        (Some(n), _) => n.clone(),
        (None, [only]) => only.clone(),
        (None, _) => {
            return Err(bad(format!(
                "--rules {}: name the node this lab loads it into, --rules NODE=FILE \
                 (nodes with rules: {})",
                f.path.display(),
                if with_rules.is_empty() {
                    "none".to_string()
                } else {
                    with_rules.join(", ")
                }
            )));
        }
    };
    let nodes = spec.node_names();
    if !nodes.contains(&node) {
        return Err(bad(format!(
            "--rules {node}={}: no node named {node:?} (nodes: {})",
            f.path.display(),
            nodes.join(", ")
        )));
    }
    match f.kind {
        Kind::Rules => Ok(spec.rules_file(node, &f.path)),
        Kind::Manager => spec.manager_file(&node, &f.path),
    }
}

fn stem(file: &Path) -> String {
    file.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "lab".into())
}

fn or_error(result: netrig::Result<ExitCode>) -> ExitCode {
    result.unwrap_or_else(|e| {
        eprintln!("netrig: error: {e}");
        ExitCode::from(ERROR)
    })
}

/// Writes `text` to `out` (created or replaced), else to standard output.
pub fn emit(out: Option<&Path>, text: &str) -> netrig::Result<()> {
    match out {
        None => {
            print!("{text}");
            Ok(())
        }
        Some(p) => std::fs::write(p, text).map_err(|e| {
            netrig::Error::io(
                netrig::Subject::default(),
                format!("write {}", p.display()),
                e,
            )
        }),
    }
}

/// `--format` and `-o FILE` of the matrix commands.
type Output<'a> = (Format, Option<&'a Path>);

/// `netrig matrix TOPOLOGY [--rules [NODE=]FILE]...`
pub fn matrix(
    file: &Path,
    rules: &[RulesArg],
    over: &Overrides,
    (format, out): Output,
) -> ExitCode {
    or_error((|| {
        let lab = up(file, rules, &stem(file), over)?;
        emit(out, &Matrix::probe(&lab)?.render(format))?;
        Ok(ExitCode::SUCCESS)
    })())
}

/// `netrig diff TOPOLOGY --before FILE... --after FILE...`
/// With `why_changes`, the cells whose deciding rule alone changed are
/// listed too, and count as a change for the exit status.
pub fn diff(
    file: &Path,
    (before, after): (&[RulesArg], &[RulesArg]),
    over: &Overrides,
    why_changes: bool,
    (format, out): Output,
) -> ExitCode {
    or_error((|| {
        let name = stem(file);
        let (b, a) = std::thread::scope(|s| {
            let b = s.spawn(|| up(file, before, &format!("{name}-before"), over));
            let a = up(file, after, &format!("{name}-after"), over);
            (b.join().expect("bring-up thread panicked"), a)
        });
        let (b, a) = (b?, a?);
        let mut d = MatrixDiff::probe(&b, &a)?;
        if !why_changes {
            d.why_changed.clear();
        }
        emit(out, &d.render(format))?;
        Ok(if d.is_empty() && d.why_changed.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })())
}

/// `netrig trace TOPOLOGY --from NODE --to ADDR:PORT/tcp|udp, ADDR/icmp, [ADDR6]:PORT/tcp|udp or ADDR6/icmp6 [--rules [NODE=]FILE]...`
pub fn trace(
    file: &Path,
    cell: (&str, &str),
    rules: &[RulesArg],
    over: &Overrides,
    (format, out): Output,
) -> ExitCode {
    or_error((|| {
        let cell = Cell::parse(cell.0, cell.1)?;
        let lab = up(file, rules, &stem(file), over)?;
        emit(
            out,
            &trace_cell(&lab, &cell, DEFAULT_DEADLINE)?.render(format),
        )?;
        Ok(ExitCode::SUCCESS)
    })())
}

#[cfg(test)]
mod tests {
    use super::{Kind, RulesArg};

    #[test]
    fn a_rules_argument_names_its_node_before_an_equals_sign() {
        let parse = |s: &str| s.parse::<RulesArg>().expect("parses");
        let a = parse("h2=rules/x.rules");
        assert_eq!(
            (a.node.as_deref(), a.path.to_str()),
            (Some("h2"), Some("rules/x.rules"))
        );
        let b = parse("rules/a=b.rules"); // a path with '=' in a file name
        assert_eq!((b.node, b.path.to_str()), (None, Some("rules/a=b.rules")));
        let c = parse("x.nft");
        assert_eq!((c.node, c.path.to_str()), (None, Some("x.nft")));
        let d = parse("ufw:after.txt");
        assert_eq!(
            (d.node, d.kind, d.path.to_str()),
            (None, Kind::Manager, Some("after.txt"))
        );
        let f = parse("host=firewalld:open.txt");
        assert_eq!(
            (f.node.as_deref(), f.kind, f.path.to_str()),
            (Some("host"), Kind::Manager, Some("open.txt"))
        );
        let e = parse("h2=ufw:a.txt");
        assert_eq!(
            (e.node.as_deref(), e.kind, e.path.to_str()),
            (Some("h2"), Kind::Manager, Some("a.txt"))
        );
    }
}
