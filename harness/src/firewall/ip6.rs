//! The IPv6 side of the iptables backends: `ip6tables-*-restore` to load,
//! the matching save tool to read back ([`Backend::ip6_save_argv`]). Docker
//! 28+ programs ip6tables by default, so an emulated host loads its IPv6
//! skeleton with these, beside its IPv4 ruleset and committed right after
//! it ([`Backend::load_both`]).

use std::path::Path;

use crate::backend::{Backend, LoadMode};
use crate::error::{Error, Result};
use crate::namespace::Namespace;

impl Backend {
    /// Loads `v4` with the backend's restore tool and `v6` with its
    /// ip6tables flavour, both as `mode` says (iptables backends only).
    /// Returns once both are active — with iptables-nft
    /// once the kernel has committed both, the tools reaped in the
    /// background (see [`Backend::replace_tables_committed`]) — or the
    /// first failure (IPv4's if both fail). The legacy tools run one after
    /// the other (they would only queue on the xtables lock, `-w`).
    ///
    /// With iptables-nft what costs is not the work but the waits: every
    /// close of an nfnetlink socket after a commit (a tool's exit, or its
    /// check of an extension) takes the namespace's commit mutex and waits
    /// for an RCU grace period (see [`super::commit`]). Two tools run at
    /// once made each other wait two or three of them (10–45 ms each here);
    /// so the two run at once with their stdin held open until both have
    /// committed, and the ip6tables tool gets its first `COMMIT` line only
    /// once the IPv4 tool committed its last table: it reads and checks its
    /// first table beside the IPv4 tool's own checks, commits with nothing
    /// between, and neither tool exits (closing its socket) before the
    /// other's last commit. One grace period in all, the IPv4 tool's own
    /// (its tables, ordered by [`super::order::extensions_first`], leave one
    /// extension to check after a commit).
    ///
    /// [`LoadMode::Append`] is `--noflush` for both: what is there stays.
    /// A refused line is numbered as in its input.
    pub(crate) fn load_both(
        self,
        ns: &Namespace,
        mode: LoadMode,
        v4: &str,
        v6: &str,
    ) -> Result<()> {
        let (four, six) = self.load_pair(ns, mode, v4, v6)?;
        four.and(six)
    }

    /// Adds a host's rule files of both families, `four` (iptables-save)
    /// and `six` (ip6tables-save), as [`Backend::load_both`] loads:
    /// a refused line is named by its file and its line there.
    pub(crate) fn append_files_both(self, ns: &Namespace, four: &Path, six: &Path) -> Result<()> {
        let (text4, text6) = (
            super::read_rule_file(ns, four)?,
            super::read_rule_file(ns, six)?,
        );
        let (r4, r6) = self.load_pair(ns, LoadMode::Append, &text4, &text6)?;
        r4.map_err(|e| super::in_file(e, four))
            .and(r6.map_err(|e| super::in_file(e, six)))
    }

    /// [`Backend::load_both`]'s work: how each family's load ended (IPv4,
    /// IPv6), or a failure to start it.
    fn load_pair(
        self,
        ns: &Namespace,
        mode: LoadMode,
        v4: &str,
        v6: &str,
    ) -> Result<(Result<()>, Result<()>)> {
        let argv6 = self.ip6_load_argv(mode).ok_or_else(|| no_ip6(self, ns))?;
        if self != Backend::IptablesNft {
            let four = self.load_with(ns, self.load_argv(mode), v4, mode, None);
            return Ok((four, self.load_with(ns, argv6, v6, mode, None)));
        }
        ns.settle_loads()?;
        let (fed4, fed6) = (
            super::order::fed_to(self, v4),
            super::order::fed_to(self, v6),
        );
        let (v4, v6) = (fed4.text.as_str(), fed6.text.as_str());
        let (head6, tail6) = before_first_commit(v6);
        let (feed4, stdin4) = std::sync::mpsc::channel::<Vec<u8>>();
        let (feed6, stdin6) = std::sync::mpsc::channel::<Vec<u8>>();
        let _ = feed4.send(v4.as_bytes().to_vec());
        let _ = feed6.send(head6.as_bytes().to_vec());
        let commits4 = super::commit::iptables_commits(v4);
        let mut tail6 = Some(tail6);
        // Owns the ip6tables tool's stdin: dropping it lets the tool exit.
        let mut release6 = move |seen: usize| {
            if seen >= commits4
                && let Some(t) = tail6.take()
            {
                let _ = feed6.send(t.as_bytes().to_vec());
            }
        };
        let argv4 = self.load_argv(mode);
        std::thread::scope(|scope| {
            let six = std::thread::Builder::new()
                .name("netrig-ip6tables".into())
                .spawn_scoped(scope, move || {
                    self.load_watched(ns, argv6, v6, Some(stdin6), &mut |_| {})
                })
                .map_err(|e| Error::io(ns.subject().clone(), "start thread netrig-ip6tables", e))?;
            let four = self.load_watched(ns, argv4, v4, Some(stdin4), &mut release6);
            // The IPv4 load failed or ended early: the IPv6 one goes on.
            release6(usize::MAX);
            let six = six.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            // Both tools may exit now; one that had not committed is waited for.
            drop((feed4, release6));
            let four = four.and_then(super::Watched::finish);
            let six = six.and_then(super::Watched::finish);
            Ok((
                four.map_err(|e| fed4.unmap(e)),
                six.map_err(|e| fed6.unmap(e)),
            ))
        })
    }

    /// The ip6tables rules with counters (`ip6tables-*-save -c`).
    pub(crate) fn save_ip6(self, ns: &Namespace) -> Result<String> {
        let argv = self.ip6_save_argv().ok_or_else(|| no_ip6(self, ns))?;
        super::run(ns, argv, None)
    }
}

pub(super) fn no_ip6(b: Backend, ns: &Namespace) -> Error {
    Error::invalid(
        ns.subject().clone(),
        "backend",
        format!("{b} has no ip6tables tools (nft loads IPv6 tables itself)"),
    )
}

/// `text` split before its first `COMMIT` line: what a restore tool reads
/// (checking its extensions) without committing anything, and the rest.
fn before_first_commit(text: &str) -> (&str, &str) {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if line.trim() == "COMMIT" {
            return text.split_at(at);
        }
        at += line.len();
    }
    (text, "")
}
