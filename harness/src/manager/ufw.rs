//! ufw as data: a host's ufw commands and files, ufw's command lines, the
//! `/etc/default/ufw` netrig gives it, the sysctls it may write, and the
//! `### tuple ###` comments of its `user.rules` tied back to commands.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// A host's ufw: the commands run before the Docker daemon starts and
/// after it, the files of commands added later (`netrig diff --after
/// ufw:FILE`) and the user's own copies of ufw's files.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Ufw {
    /// ufw commands before the daemon starts (`[before] ufw`), e.g.
    /// `default deny incoming`, `allow 22/tcp`, `enable`.
    pub(crate) before: Vec<String>,
    /// ufw commands once Docker's rules are in (`[after] ufw`).
    pub(crate) after: Vec<String>,
    /// Files of ufw commands, one per line, run after [`Ufw::after`].
    pub(crate) command_files: Vec<PathBuf>,
    /// The user's copies of ufw's own files (`before.rules`, `after.rules`
    /// …), each replacing the package's file of the same name.
    pub(crate) files: Vec<PathBuf>,
}

impl Ufw {
    /// Whether the host runs ufw at all.
    pub(crate) fn is_used(&self) -> bool {
        !(self.before.is_empty()
            && self.after.is_empty()
            && self.command_files.is_empty()
            && self.files.is_empty())
    }
}

/// The files of ufw's (in `/etc/ufw`) a user may replace.
pub(crate) const OWN_FILES: &[&str] = &[
    "before.rules",
    "after.rules",
    "before6.rules",
    "after6.rules",
    "before.init",
    "after.init",
];

/// The `/etc/default/ufw` ufw sees in a node: Debian's defaults, with
/// `IPT_SYSCTL` pointing at the lab's filtered copy of `sysctl.conf` (in
/// the node's `/etc/ufw`), no kernel modules to load, and `IPV6=no`: the
/// emulated 28+ daemons load their own ip6tables filter table over the
/// host's (ufw's IPv6 chains would be gone under it), and a matrix probes
/// IPv4.
pub(crate) const DEFAULTS: &str = "\
# /etc/default/ufw as netrig gives it to ufw in a node (Debian's defaults
# but IPV6=no: netrig's Docker hosts own the ip6tables filter table).
IPV6=no
DEFAULT_INPUT_POLICY=\"DROP\"
DEFAULT_OUTPUT_POLICY=\"ACCEPT\"
DEFAULT_FORWARD_POLICY=\"DROP\"
DEFAULT_APPLICATION_POLICY=\"SKIP\"
MANAGE_BUILTINS=no
# netrig: only the per-network-namespace keys of ufw's sysctl.conf.
IPT_SYSCTL=/etc/ufw/sysctl.conf
IPT_MODULES=\"\"
";

/// The sysctl keys (`/`- or `.`-separated) that are per network namespace,
/// by prefix: writing them in a node changes the node only.
const PER_NETNS: &[&str] = &[
    "net/ipv4/conf/",
    "net/ipv6/conf/",
    "net/ipv4/icmp_",
    "net/ipv4/ip_forward",
    "net/ipv4/tcp_syncookies",
    "net/ipv4/ip_local_port_range",
    "net/ipv4/ping_group_range",
];

/// `sysctl.conf` text with only the per-namespace settings kept, and the
/// keys dropped (any other key could reach the machine: `kernel.*`, `vm.*`,
/// `fs.*`, global `net.core.*` ones).
pub(crate) fn netns_sysctls(conf: &str) -> (String, Vec<String>) {
    let (mut kept, mut dropped) = (String::new(), Vec::new());
    for line in conf.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            kept.push_str(line);
            kept.push('\n');
            continue;
        }
        let key = t.split('=').next().unwrap_or("").trim().replace('.', "/");
        if PER_NETNS.iter().any(|p| key.starts_with(p)) && !key.contains("..") {
            kept.push_str(line);
            kept.push('\n');
        } else {
            kept.push_str(&format!(
                "# netrig: not per network namespace, not written: {t}\n"
            ));
            dropped.push(key);
        }
    }
    (kept, dropped)
}

/// The command lines of a file of ufw commands or `firewall-cmd` lists:
/// (line number, command), blank lines and `#` comments skipped.
pub(crate) fn commands_in(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter_map(|(n, l)| {
            let l = l.trim();
            (!l.is_empty() && !l.starts_with('#')).then(|| (n + 1, l.to_string()))
        })
        .collect()
}

/// ufw's argv for `command` (`allow 22/tcp`, or `ufw allow 22/tcp`):
/// words split on blanks, single or double quotes grouping (`comment
/// 'web'`), and `--force` before the commands that would ask for a
/// confirmation (`enable`, `reset`, `delete`, `route delete`).
pub(crate) fn argv(command: &str) -> Result<Vec<String>, String> {
    let mut words = words(command)?;
    if words.first().is_some_and(|w| w == "ufw") {
        words.remove(0);
    }
    let Some(first) = words.first() else {
        return Err("an empty ufw command".into());
    };
    if first.starts_with('-') {
        return Err(format!(
            "{command:?}: give the command without options (netrig adds --force where ufw would ask)"
        ));
    }
    let confirms = matches!(first.as_str(), "enable" | "reset" | "delete")
        || (first == "route" && words.get(1).is_some_and(|w| w == "delete"));
    if confirms {
        words.insert(0, "--force".into());
    }
    Ok(words)
}

/// `command` split into words on blanks, single or double quotes grouping
/// (`comment 'web'`, `--add-rich-rule='rule …'`), as a shell would.
pub(crate) fn words(command: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let (mut cur, mut quote, mut any) = (String::new(), None::<char>, false);
    for c in command.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if quote.is_some() {
        return Err(format!("{command:?}: a quote is not closed"));
    }
    if any || !cur.is_empty() {
        words.push(cur);
    }
    Ok(words)
}

/// The `### tuple ###` comments of a `user.rules` (what ufw records for
/// each rule command), without the marker.
pub(crate) fn tuples(user_rules: &str) -> BTreeSet<String> {
    user_rules
        .lines()
        .filter_map(|l| l.strip_prefix("### tuple ###"))
        .map(|t| t.trim().to_string())
        .collect()
}

/// An iptables fragment of `user_rules`' rules, each after a
/// `#netrig-source: ufw COMMAND` line naming the command that made it
/// (`commands`: tuple → command; a tuple no command is known for is named
/// by the tuple itself), for the matrix's why.
pub(crate) fn sources(user_rules: &str, commands: &BTreeMap<String, String>) -> String {
    let mut out = String::from("*filter\n");
    let mut label: Option<String> = None;
    for line in user_rules.lines() {
        let t = line.trim();
        if let Some(tuple) = t.strip_prefix("### tuple ###") {
            let tuple = tuple.trim();
            label = Some(match commands.get(tuple) {
                Some(c) => format!("ufw {c}"),
                None => format!("ufw rule (user.rules tuple: {tuple})"),
            });
        } else if t.is_empty() || t.starts_with('#') || t.starts_with('*') || t == "COMMIT" {
            label = None;
        } else if t.starts_with("-A ")
            && let Some(l) = &label
        {
            out.push_str(&format!("#netrig-source: {l}\n{t}\n"));
        }
    }
    out.push_str("COMMIT\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ufw's words: quotes group, a leading `ufw` goes, confirmations are forced.
    #[test]
    fn argv_splits_and_forces_confirmations() {
        assert_eq!(argv("ufw allow 22/tcp").unwrap(), ["allow", "22/tcp"]);
        assert_eq!(argv("enable").unwrap(), ["--force", "enable"]);
        assert_eq!(
            argv("route delete allow 80").unwrap(),
            ["--force", "route", "delete", "allow", "80"]
        );
        assert_eq!(
            argv("allow 80 comment 'my web'").unwrap(),
            ["allow", "80", "comment", "my web"]
        );
        assert!(argv("allow 'x").is_err());
        assert!(argv("--dry-run enable").is_err());
        assert!(argv("  ").is_err());
    }

    /// Only per-namespace keys of Debian's sysctl.conf stay.
    #[test]
    fn sysctls_keep_per_namespace_keys_only() {
        let (kept, dropped) = netns_sysctls(
            "# c\nnet/ipv4/conf/all/accept_redirects=0\nnet.ipv4.icmp_echo_ignore_all = 0\n\
             kernel/printk=3\nnet/core/rmem_max=1\n",
        );
        assert!(kept.contains("\nnet/ipv4/conf/all/accept_redirects=0\n"));
        assert!(kept.contains("\nnet.ipv4.icmp_echo_ignore_all = 0\n"));
        assert!(kept.contains("# netrig: not per network namespace, not written: kernel/printk=3"));
        assert_eq!(dropped, ["kernel/printk", "net/core/rmem_max"]);
    }

    /// Rules under a tuple are labelled with the command that made the tuple.
    #[test]
    fn sources_name_the_command_of_each_tuple() {
        let user = "*filter\n:ufw-user-input - [0:0]\n### RULES ###\n\n\
            ### tuple ### deny any 8080 0.0.0.0/0 any 0.0.0.0/0 in\n\
            -A ufw-user-input -p tcp --dport 8080 -j DROP\n\
            -A ufw-user-input -p udp --dport 8080 -j DROP\n\n\
            ### tuple ### route:deny tcp 80 0.0.0.0/0 any 0.0.0.0/0 in\n\
            -A ufw-user-forward -p tcp --dport 80 -j DROP\n\n\
            ### END RULES ###\n-A ufw-user-limit -j REJECT\nCOMMIT\n";
        let mut cmds = BTreeMap::new();
        cmds.insert(
            "deny any 8080 0.0.0.0/0 any 0.0.0.0/0 in".to_string(),
            "deny 8080".to_string(),
        );
        let s = sources(user, &cmds);
        assert_eq!(
            s,
            "*filter\n#netrig-source: ufw deny 8080\n-A ufw-user-input -p tcp --dport 8080 -j DROP\n\
             #netrig-source: ufw deny 8080\n-A ufw-user-input -p udp --dport 8080 -j DROP\n\
             #netrig-source: ufw rule (user.rules tuple: route:deny tcp 80 0.0.0.0/0 any 0.0.0.0/0 in)\n\
             -A ufw-user-forward -p tcp --dport 80 -j DROP\nCOMMIT\n"
        );
        assert_eq!(tuples(user).len(), 2);
    }
}
