//! Evidence on failure (system layer): the state of a lab's namespaces
//! written to its artifacts directory at the moment an expectation fails, and
//! the message that points to it.
//!
//! `Lab::collect_evidence` (and every failed expectation) marks the
//! artifacts directory as kept and writes, under `failure-N/`:
//! - `summary.txt` — why evidence was collected;
//! - `fingerprint.txt` — the machine ([`crate::Fingerprint`]: kernel, modules, tool versions, usable backends);
//! - for each node, `NODE/ruleset.txt` (`iptables-nft-save -c`,
//!   `ip6tables-nft-save -c`, the legacy pair, `nft list ruleset`),
//!   `addresses.txt` (`ip -d addr`), `routes.txt` (`ip route`, `ip -6
//!   route`), `neighbours.txt` (`ip -4 neigh`, `ip -6 neigh`) and
//!   `conntrack.txt` (both families);
//! - `report.html` — one small self-contained page (nothing from the
//!   network) with the reason and relative links to all of the above and to
//!   the lab's `.pcap` files, to open in a browser from the kept directory.
//!
//! A failed expectation reads like this:
//!
//! ```text
//! lab evidence-3141-0, node b, link eth0: expected within 100ms: udp dst 10.0.0.2:1234
//!   seen instead: 1 packet(s) on this capture:
//!     02:28:54.231766 b/eth0 In  IP 10.0.0.1.43945 > 10.0.0.2.7000: UDP, length 6
//!   evidence kept in /tmp/netrig-evidence-3141-0-bWgG5y/failure-0
//!     this capture: /tmp/netrig-evidence-3141-0-bWgG5y/b-eth0-0.pcap
//!     per node: ruleset.txt (with counters), addresses.txt, routes.txt, neighbours.txt, conntrack.txt in …/failure-0/NODE/
//! ```
//!
//! A tool that is missing or fails is noted in the file instead of aborting
//! the collection. The captures' `.pcap` files sit in the artifacts directory
//! itself; every capture flushes its file after each batch of frames, and the
//! failing capture is synchronised before the evidence is written.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use std::sync::Arc;

use crate::backend::Backend;
use crate::capture::Capture;
use crate::error::{Error, ExpectationFailure, Result, Subject};
use crate::namespace::{Group, Namespace};

/// How many packets a failure message lists.
pub(crate) const SEEN_LINES: usize = 20;

/// What `Lab::collect_evidence` wrote.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// The `failure-N` directory.
    pub dir: PathBuf,
    /// The capture files in the artifacts directory.
    pub pcaps: Vec<PathBuf>,
    /// Every file written.
    pub files: Vec<PathBuf>,
}

static FAILURE_COUNTER: AtomicU32 = AtomicU32::new(0);

/// Per node: file name and the commands whose output goes in it (the
/// rulesets come from [`Backend::save_argv`], the one table of those tools:
/// iptables' and ip6tables', nft's).
const DUMPS: &[(&str, &[&[&str]])] = &[
    ("addresses.txt", &[&["ip", "-d", "addr"]]),
    ("routes.txt", &[&["ip", "route"], &["ip", "-6", "route"]]),
    (
        "neighbours.txt",
        &[&["ip", "-4", "neigh"], &["ip", "-6", "neigh"]],
    ),
];

/// Keeps the group's artifacts directory and writes every live namespace's
/// state into a new `failure-N` directory in it.
pub(crate) fn collect(group: &Arc<Group>, reason: &str) -> Result<Evidence> {
    group.artifacts().keep();
    let base = group.artifacts().path();
    let n = FAILURE_COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = base.join(format!("failure-{n}"));
    let io = |what: String| move |e| Error::io(Subject::lab(group.name()), what, e);
    std::fs::create_dir_all(&dir).map_err(io(format!("create {}", dir.display())))?;
    let mut files = Vec::new();
    let summary = dir.join("summary.txt");
    std::fs::write(&summary, format!("{reason}\n"))
        .map_err(io(format!("write {}", summary.display())))?;
    files.push(summary);
    let members = group.members();
    if let Some((_, ns)) = members.first() {
        let path = crate::fingerprint::Fingerprint::probe(ns)
            .write_to(&dir)
            .map_err(io(format!("write {}/fingerprint.txt", dir.display())))?;
        files.push(path);
    }
    for (name, ns) in members {
        let node_dir = dir.join(&name);
        std::fs::create_dir_all(&node_dir).map_err(io(format!("create {}", node_dir.display())))?;
        let rules: String = Backend::ALL
            .iter()
            .flat_map(|b| b.save_argv())
            .map(|argv| run_dump(&ns, argv))
            .collect();
        let mut dumps = vec![("ruleset.txt".to_string(), rules)];
        for (file, commands) in DUMPS {
            let text: String = commands.iter().map(|argv| run_dump(&ns, argv)).collect();
            dumps.push((file.to_string(), text));
        }
        let conntrack = match ns.conntrack_text() {
            Ok(t) if t.trim().is_empty() => "# conntrack table: empty\n".to_string(),
            Ok(t) => format!("# conntrack table ({} entries)\n{t}", t.lines().count()),
            Err(e) => format!("# conntrack table unavailable: {e}\n"),
        };
        dumps.push(("conntrack.txt".to_string(), conntrack));
        for (file, text) in dumps {
            let path = node_dir.join(file);
            std::fs::write(&path, text).map_err(io(format!("write {}", path.display())))?;
            files.push(path);
        }
    }
    let pcaps = list_pcaps(base);
    let nodes: Vec<String> = group.members().into_iter().map(|(n, _)| n).collect();
    let report = dir.join("report.html");
    std::fs::write(&report, report_html(group.name(), reason, &nodes, &pcaps))
        .map_err(io(format!("write {}", report.display())))?;
    files.push(report);
    tracing::debug!(lab = group.name(), dir = %dir.display(), files = files.len(), pcaps = pcaps.len(), "evidence collected");
    Ok(Evidence { dir, pcaps, files })
}

/// What a node's directory holds, as `report.html` lists it.
const NODE_FILES: [&str; 5] = [
    "ruleset.txt",
    "addresses.txt",
    "routes.txt",
    "neighbours.txt",
    "conntrack.txt",
];

/// `failure-N/report.html`: the reason, then relative links to the
/// summary, the fingerprint, each node's files and the lab's captures
/// (which sit one directory up).
fn report_html(lab: &str, reason: &str, nodes: &[String], pcaps: &[PathBuf]) -> String {
    use crate::graph::esc;
    let link = |href: &str, text: &str| format!("<a href=\"{}\">{}</a>", esc(href), esc(text));
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>netrig evidence: {lab}</title>\
         <style>body{{font:14px system-ui,sans-serif;margin:16px}}pre{{background:#f6f6f6;padding:8px;white-space:pre-wrap}}\
         td,th{{padding:2px 10px;text-align:left}}</style></head>\n<body><h1>netrig evidence: lab {lab}</h1>\n\
         <h2>why</h2><pre>{}</pre>\n<p>{} · {}</p>\n<h2>per node</h2><table>\n",
        esc(reason),
        link("summary.txt", "summary.txt"),
        link("fingerprint.txt", "fingerprint.txt (the machine)"),
        lab = esc(lab),
    );
    for node in nodes {
        let files: Vec<String> = NODE_FILES
            .iter()
            .map(|f| link(&format!("{node}/{f}"), f))
            .collect();
        let _ = writeln!(
            out,
            "<tr><th>{}</th><td>{}</td></tr>",
            esc(node),
            files.join(" · ")
        );
    }
    out.push_str("</table>\n<h2>captures</h2>\n<ul>\n");
    if pcaps.is_empty() {
        out.push_str("<li>none</li>\n");
    }
    for p in pcaps {
        let name = p
            .file_name()
            .map_or(String::new(), |f| f.to_string_lossy().into_owned());
        let _ = writeln!(out, "<li>{}</li>", link(&format!("../{name}"), &name));
    }
    out.push_str("</ul>\n</body></html>\n");
    out
}

fn run_dump(ns: &Namespace, argv: &[&str]) -> String {
    let header = format!("# {}\n", argv.join(" "));
    match ns.command(argv[0]).args(&argv[1..]).output() {
        Ok(out) if out.status.success() => {
            let body = String::from_utf8_lossy(&out.stdout);
            let body = if body.trim().is_empty() {
                "# (empty)\n".into()
            } else {
                body
            };
            format!("{header}{body}\n")
        }
        Ok(out) => format!(
            "{header}# exited with {}: {}\n\n",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(Error::MissingProgram { package, .. }) => {
            format!(
                "{header}# skipped: `{}` is not installed (package {})\n\n",
                argv[0],
                package.as_deref().unwrap_or("unknown")
            )
        }
        Err(e) => format!("{header}# failed: {e}\n\n"),
    }
}

fn list_pcaps(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Builds the error for a failed expectation on `capture`: what was
/// expected, what it saw (the last [`SEEN_LINES`] packets), and
/// where the evidence — collected now — is.
pub(crate) fn expectation_failed(
    capture: &Capture,
    expected: &str,
    detail: Option<String>,
) -> Error {
    let _ = capture.sync();
    let (total, seen) = capture.with_packets(|ps| {
        let skip = ps.len().saturating_sub(SEEN_LINES);
        (
            ps.len(),
            ps[skip..]
                .iter()
                .map(|p| format!("    {p}"))
                .collect::<Vec<_>>(),
        )
    });
    let subject = capture.subject();
    let mut msg = format!("{subject}: expected {expected}\n");
    if let Some(d) = detail {
        let _ = writeln!(msg, "  {}", d.replace('\n', "\n  "));
    }
    match total {
        0 => msg.push_str("  seen instead: nothing on this capture\n"),
        n if n > SEEN_LINES => {
            let _ = writeln!(
                msg,
                "  seen instead: {n} packets on this capture, the last {SEEN_LINES}:"
            );
        }
        n => {
            let _ = writeln!(msg, "  seen instead: {n} packet(s) on this capture:");
        }
    }
    for line in &seen {
        let _ = writeln!(msg, "{line}");
    }
    if let Ok(stats) = capture.stats()
        && (stats.dropped > 0 || stats.if_dropped > 0)
    {
        let _ = writeln!(
            msg,
            "  note: the capture's ring overflowed and the kernel dropped {} frame(s) \
             (raise CaptureOptions::buffer_size or lower snaplen)",
            stats.dropped + stats.if_dropped
        );
    }
    let group = capture.namespace().group();
    let mut evidence = None;
    match collect(group, &msg) {
        Ok(ev) => {
            evidence = Some(ev.dir.clone());
            let _ = writeln!(msg, "  evidence kept in {}", ev.dir.display());
            let _ = writeln!(msg, "    this capture: {}", capture.pcap_path().display());
            let others = ev
                .pcaps
                .iter()
                .filter(|p| p.as_path() != capture.pcap_path())
                .count();
            if others > 0 {
                let _ = writeln!(
                    msg,
                    "    {others} other capture(s) of this lab: {}/*.pcap",
                    group.artifacts().path().display()
                );
            }
            let _ = write!(
                msg,
                "    per node: ruleset.txt (with counters), addresses.txt, routes.txt, neighbours.txt, conntrack.txt in {}/NODE/",
                ev.dir.display()
            );
        }
        Err(e) => {
            let _ = write!(
                msg,
                "  evidence could not be collected ({e}); pcap: {}",
                capture.pcap_path().display()
            );
        }
    }
    tracing::debug!(%subject, "expectation failed");
    Error::Expectation(Box::new(ExpectationFailure {
        subject,
        expected: expected.to_string(),
        seen: seen.iter().map(|l| l.trim().to_string()).collect(),
        evidence,
        report: msg,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// report.html links every node's files and the captures one directory
    /// up, by relative links only, and escapes the reason.
    #[test]
    fn the_evidence_report_links_its_files() {
        let html = report_html(
            "lab-1",
            "expected <udp> & more",
            &["a".into(), "b".into()],
            &[PathBuf::from("/tmp/x/a-eth0-0.pcap")],
        );
        for href in [
            "a/ruleset.txt",
            "b/conntrack.txt",
            "../a-eth0-0.pcap",
            "fingerprint.txt",
        ] {
            assert!(html.contains(&format!("href=\"{href}\"")), "{href}: {html}");
        }
        assert!(html.contains("expected &lt;udp&gt; &amp; more"));
        assert!(!html.contains("http") && !html.contains("src="));
    }
}
