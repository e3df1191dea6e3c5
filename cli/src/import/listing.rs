//! `iptables -nvL` listings (also `-t nat`, `--line-numbers`, several
//! tables pasted into one file, lines cut out) converted, best-effort, to
//! `iptables-save` text: each rule it can read becomes its `-A` line; every
//! line it cannot is listed with its number and why; chains whose counts do
//! not add up (jumps to chains the listing does not show, fewer jumps than
//! the chain's "N references") are warned about.

use std::collections::{BTreeMap, BTreeSet};

/// A listing, converted.
#[derive(Debug, Default)]
pub(crate) struct Converted {
    /// Table name → its `iptables-save` block (`*table` … `COMMIT`).
    pub(crate) tables: BTreeMap<String, String>,
    /// `(line, text, why)` of every line not converted.
    pub(crate) unconverted: Vec<(usize, String, String)>,
    /// `(line, what)`: chains that do not add up.
    pub(crate) warnings: Vec<(usize, String)>,
}

/// Whether `text` is an iptables listing (`Chain NAME (policy …` or
/// `Chain NAME (N references)`, then a column header).
pub(crate) fn is_listing(text: &str) -> bool {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    lines.any(|l| l.starts_with("Chain ") && l.contains(" ("))
        && text.lines().any(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.contains(&"target") && w.contains(&"prot") && w.contains(&"source")
        })
}

const BUILTIN: [&str; 5] = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];

/// One chain as listed.
#[derive(Debug, Default)]
struct Chain {
    name: String,
    line: usize,
    policy: Option<String>,
    references: Option<usize>,
    rules: Vec<(usize, String)>,
}

/// Converts a listing.
pub(crate) fn convert(text: &str) -> Converted {
    let mut out = Converted::default();
    // Tables: a builtin chain seen twice starts the next table.
    let mut tables: Vec<(Option<String>, Vec<Chain>)> = vec![(None, Vec::new())];
    let mut hinted: Option<String> = None;
    let mut numbered = false;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim_end();
        if line.trim().is_empty() {
            continue;
        }
        if let Some(t) = table_hint(line) {
            hinted = Some(t);
            if tables.last().is_some_and(|(_, c)| !c.is_empty()) {
                tables.push((None, Vec::new()));
            }
            tables.last_mut().unwrap().0 = hinted.clone();
            continue;
        }
        if let Some(rest) = line.strip_prefix("Chain ") {
            let (name, paren) = rest.split_once(' ').unwrap_or((rest, ""));
            let cur = tables.last_mut().unwrap();
            if BUILTIN.contains(&name) && cur.1.iter().any(|c| c.name == name) {
                tables.push((hinted.take(), Vec::new()));
            }
            let mut c = Chain {
                name: name.to_string(),
                line: n,
                ..Chain::default()
            };
            let words: Vec<&str> = paren
                .trim_matches(|ch| ch == '(' || ch == ')')
                .split_whitespace()
                .collect();
            match words.as_slice() {
                ["policy", p, ..] => c.policy = Some(p.to_string()),
                [count, "references" | "reference", ..] => c.references = count.parse().ok(),
                _ => out
                    .warnings
                    .push((n, format!("chain {name}: no policy or reference count"))),
            }
            tables.last_mut().unwrap().1.push(c);
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.contains(&"target") && words.contains(&"prot") {
            numbered = words.first() == Some(&"num");
            continue;
        }
        let Some(chain) = tables.last_mut().unwrap().1.last_mut() else {
            out.unconverted
                .push((n, line.to_string(), "a rule before any `Chain` line".into()));
            continue;
        };
        match rule(line, numbered) {
            Ok(spec) => chain.rules.push((n, spec)),
            Err(why) => out.unconverted.push((n, line.to_string(), why)),
        }
    }
    for (hint, chains) in tables.into_iter().filter(|(_, c)| !c.is_empty()) {
        let table = hint.unwrap_or_else(|| guess_table(&chains));
        if out.tables.contains_key(&table) {
            out.warnings.push((
                chains[0].line,
                format!("a second listing of table {table}: ignored (the first one is used)"),
            ));
            continue;
        }
        let block = save_block(&table, &chains, &mut out.warnings);
        out.tables.insert(table, block);
    }
    out
}

/// `iptables -t nat -nvL` echoed above a listing, or `# Table: nat`.
fn table_hint(line: &str) -> Option<String> {
    let l = line.trim_start_matches(['#', '$', ' ']);
    if let Some(rest) = l.strip_prefix("Table:") {
        return Some(rest.trim().to_string());
    }
    if l.starts_with("iptables") || l.starts_with("sudo iptables") {
        let w: Vec<&str> = l.split_whitespace().collect();
        let t = w
            .iter()
            .position(|x| *x == "-t" || *x == "--table")
            .and_then(|i| w.get(i + 1))
            .map(|s| s.to_string());
        return Some(t.unwrap_or_else(|| "filter".into()));
    }
    None
}

/// The table a listing without a name shows, by its chains and targets.
fn guess_table(chains: &[Chain]) -> String {
    let has = |n: &str| chains.iter().any(|c| c.name == n);
    let nat_targets = chains.iter().flat_map(|c| &c.rules).any(|(_, r)| {
        ["-j DNAT", "-j SNAT", "-j MASQUERADE", "-j REDIRECT"]
            .iter()
            .any(|t| r.contains(t))
    });
    if nat_targets || (has("PREROUTING") && has("POSTROUTING") && !has("FORWARD")) {
        "nat".into()
    } else if has("PREROUTING") && has("FORWARD") {
        "mangle".into()
    } else if has("PREROUTING") {
        "raw".into()
    } else {
        "filter".into()
    }
}

/// The `*table` block: chain declarations, then every chain's rules; warns
/// where a jump names a chain not listed or a chain has fewer jumps than
/// its reference count says.
fn save_block(table: &str, chains: &[Chain], warnings: &mut Vec<(usize, String)>) -> String {
    let listed: BTreeSet<&str> = chains.iter().map(|c| c.name.as_str()).collect();
    let mut jumps: BTreeMap<String, usize> = BTreeMap::new();
    let mut undeclared: BTreeSet<String> = BTreeSet::new();
    for c in chains {
        for (n, r) in &c.rules {
            if let Some(t) = format!(" {r}")
                .split(" -j ")
                .nth(1)
                .and_then(|t| t.split_whitespace().next().map(str::to_string))
                && !is_target(&t)
            {
                *jumps.entry(t.clone()).or_default() += 1;
                if !listed.contains(t.as_str()) {
                    undeclared.insert(t.clone());
                    warnings.push((
                        *n,
                        format!(
                            "jumps to chain {t}, which the listing does not show: declared empty (its rules are missing)"
                        ),
                    ));
                }
            }
        }
    }
    let mut text = format!("*{table}\n");
    for c in chains {
        let policy = c.policy.as_deref().unwrap_or("-");
        text.push_str(&format!(":{} {policy} [0:0]\n", c.name));
        if let Some(refs) = c.references {
            let seen = jumps.get(&c.name).copied().unwrap_or(0);
            if seen < refs {
                warnings.push((
                    c.line,
                    format!(
                        "chain {} says {refs} references, the listing shows {seen} jump(s) to it: lines were cut out",
                        c.name
                    ),
                ));
            }
        }
    }
    for u in &undeclared {
        text.push_str(&format!(":{u} - [0:0]\n"));
    }
    for c in chains {
        for (_, r) in &c.rules {
            text.push_str(&format!("-A {} {r}\n", c.name));
        }
    }
    text.push_str("COMMIT\n");
    text
}

/// Targets that are not chains.
fn is_target(t: &str) -> bool {
    matches!(
        t,
        "ACCEPT"
            | "DROP"
            | "RETURN"
            | "REJECT"
            | "LOG"
            | "DNAT"
            | "SNAT"
            | "MASQUERADE"
            | "REDIRECT"
            | "MARK"
            | "CONNMARK"
            | "NOTRACK"
            | "CT"
            | "TCPMSS"
            | "NFLOG"
            | "QUEUE"
            | "NFQUEUE"
            | "TPROXY"
            | "CHECKSUM"
    )
}

fn is_prot(w: &str) -> bool {
    matches!(
        w,
        "0" | "1" | "6" | "17" | "58" | "all" | "tcp" | "udp" | "icmp" | "icmpv6" | "sctp"
    ) || w.parse::<u8>().is_ok()
}

/// One rule line to its `iptables-save` spec (what follows `-A CHAIN`).
fn rule(line: &str, numbered: bool) -> Result<String, String> {
    let mut w: Vec<&str> = line.split_whitespace().collect();
    if numbered {
        if w.first().is_none_or(|x| x.parse::<u32>().is_err()) {
            return Err("no rule number in a --line-numbers listing".into());
        }
        w.remove(0);
    }
    if w.len() < 8 {
        return Err(format!(
            "{} columns: a rule line has pkts bytes target prot opt in out source destination",
            w.len()
        ));
    }
    // Counters: 0, 123, 4K, 12M …
    let counter = |s: &str| {
        s.trim_end_matches(['K', 'M', 'G', 'T'])
            .parse::<u64>()
            .is_ok()
    };
    if !counter(w[0]) || !counter(w[1]) {
        return Err("no packet and byte counters (list with -v)".into());
    }
    let mut i = 2;
    // A rule without a target has nothing between the counters and prot.
    let target = if is_prot(w[i]) && matches!(w.get(i + 1), Some(&"--") | Some(&"-f") | Some(&"!f"))
    {
        None
    } else {
        i += 1;
        Some(w[i - 1])
    };
    if w.len() < i + 6 {
        return Err("too few columns after the target".into());
    }
    let (prot, opt, inp, outp, src, dst) = (w[i], w[i + 1], w[i + 2], w[i + 3], w[i + 4], w[i + 5]);
    let extra = &w[i + 6..];
    let mut spec: Vec<String> = Vec::new();
    addr(&mut spec, "-s", src)?;
    addr(&mut spec, "-d", dst)?;
    iface(&mut spec, "-i", inp);
    iface(&mut spec, "-o", outp);
    let proto = match prot {
        "0" | "all" => None,
        "6" | "tcp" => Some("tcp"),
        "17" | "udp" => Some("udp"),
        "1" | "icmp" => Some("icmp"),
        "132" | "sctp" => Some("sctp"),
        other => return Err(format!("protocol {other:?} not converted")),
    };
    if let Some(p) = proto {
        spec.push(format!("-p {p}"));
    }
    if opt != "--" {
        return Err(format!("option column {opt:?} (fragments) not converted"));
    }
    let (matches, target_opts) = extras(extra, proto, target)?;
    spec.extend(matches);
    if let Some(t) = target {
        spec.push(format!("-j {t}"));
        spec.extend(target_opts);
    }
    Ok(spec.join(" "))
}

fn addr(spec: &mut Vec<String>, flag: &str, a: &str) -> Result<(), String> {
    let (neg, a) = match a.strip_prefix('!') {
        Some(rest) => ("! ", rest),
        None => ("", a),
    };
    if a == "0.0.0.0/0" || a == "::/0" {
        return Ok(());
    }
    let with_prefix = if a.contains('/') {
        a.to_string()
    } else {
        format!("{a}/32")
    };
    let ok = with_prefix.split_once('/').is_some_and(|(ip, p)| {
        ip.parse::<std::net::Ipv4Addr>().is_ok() && p.parse::<u8>().is_ok_and(|p| p <= 32)
    });
    if !ok {
        return Err(format!("address {a:?} not converted"));
    }
    spec.push(format!("{neg}{flag} {with_prefix}"));
    Ok(())
}

fn iface(spec: &mut Vec<String>, flag: &str, i: &str) {
    match i {
        "*" => {}
        _ => match i.strip_prefix('!') {
            Some(rest) => spec.push(format!("! {flag} {rest}")),
            None => spec.push(format!("{flag} {i}")),
        },
    }
}

/// The matches and target options shown after the destination column.
fn extras(
    extra: &[&str],
    proto: Option<&str>,
    target: Option<&str>,
) -> Result<(Vec<String>, Vec<String>), String> {
    let mut m: Vec<String> = Vec::new();
    let mut t: Vec<String> = Vec::new();
    let mut i = 0;
    while i < extra.len() {
        let w = extra[i];
        let next = extra.get(i + 1).copied();
        match (w, next) {
            ("ctstate", Some(s)) => {
                m.push(format!("-m conntrack --ctstate {s}"));
                i += 2;
            }
            ("state", Some(s)) => {
                m.push(format!("-m state --state {s}"));
                i += 2;
            }
            ("ADDRTYPE", Some("match")) => {
                let mut parts = Vec::new();
                i += 2;
                while let Some(x) = extra.get(i) {
                    if x.starts_with("dst-type") {
                        parts.push(format!(
                            "--dst-type {}",
                            extra.get(i + 1).ok_or("ADDRTYPE without a type")?
                        ));
                        i += 2;
                    } else if x.starts_with("src-type") {
                        parts.push(format!(
                            "--src-type {}",
                            extra.get(i + 1).ok_or("ADDRTYPE without a type")?
                        ));
                        i += 2;
                    } else if *x == "!" && extra.get(i + 1).is_some_and(|y| y.ends_with("-type")) {
                        let kind = extra[i + 1];
                        parts.push(format!(
                            "! --{kind} {}",
                            extra.get(i + 2).ok_or("ADDRTYPE without a type")?
                        ));
                        i += 3;
                    } else {
                        break;
                    }
                }
                if parts.is_empty() {
                    return Err("ADDRTYPE match without a type".into());
                }
                m.push(format!("-m addrtype {}", parts.join(" ")));
            }
            ("tcp" | "udp" | "sctp", Some(_)) if Some(w) == proto => {
                let mut parts = Vec::new();
                i += 1;
                while let Some(x) = extra.get(i) {
                    let (neg, x) = match x.strip_prefix('!') {
                        Some(r) if !r.is_empty() => ("! ", r),
                        _ => ("", *x),
                    };
                    if let Some(p) = x.strip_prefix("dpt:").or(x.strip_prefix("dpts:")) {
                        parts.push(format!("{neg}--dport {p}"));
                    } else if let Some(p) = x.strip_prefix("spt:").or(x.strip_prefix("spts:")) {
                        parts.push(format!("{neg}--sport {p}"));
                    } else {
                        break;
                    }
                    i += 1;
                }
                if parts.is_empty() {
                    return Err(format!("{w} match {:?} not converted", extra.get(i)));
                }
                m.push(format!("-m {w} {}", parts.join(" ")));
            }
            ("multiport", Some(kind)) if kind == "dports" || kind == "sports" => {
                let ports = extra.get(i + 2).ok_or("multiport without ports")?;
                m.push(format!("-m multiport --{kind} {ports}"));
                i += 3;
            }
            ("icmptype", Some(n)) | ("icmp", Some(n)) if proto == Some("icmp") => {
                let n = n.strip_prefix("type").unwrap_or(n);
                m.push(format!("-m icmp --icmp-type {n}"));
                i += 2;
            }
            ("/*", _) => {
                let end = extra[i..]
                    .iter()
                    .position(|x| *x == "*/")
                    .ok_or("a comment without its end")?;
                let c = extra[i + 1..i + end].join(" ");
                m.push(format!("-m comment --comment \"{c}\""));
                i += end + 1;
            }
            ("mark", Some("match")) => {
                let v = extra.get(i + 2).ok_or("mark match without a value")?;
                m.push(format!("-m mark --mark {v}"));
                i += 3;
            }
            ("limit:", Some("avg")) => {
                let rate = extra.get(i + 2).ok_or("limit without a rate")?;
                let mut s = format!("-m limit --limit {rate}");
                i += 3;
                if extra.get(i) == Some(&"burst") {
                    s.push_str(&format!(
                        " --limit-burst {}",
                        extra.get(i + 1).ok_or("burst without a value")?
                    ));
                    i += 2;
                }
                m.push(s);
            }
            ("match-set", Some(set)) => {
                let dir = extra.get(i + 2).ok_or("match-set without a direction")?;
                m.push(format!("-m set --match-set {set} {dir}"));
                i += 3;
            }
            ("reject-with", Some(r)) if target == Some("REJECT") => {
                t.push(format!("--reject-with {r}"));
                i += 2;
            }
            (x, _) if x.starts_with("to:") && matches!(target, Some("DNAT") | Some("SNAT")) => {
                let flag = if target == Some("DNAT") {
                    "--to-destination"
                } else {
                    "--to-source"
                };
                t.push(format!("{flag} {}", &x[3..]));
                i += 1;
            }
            ("redir", Some("ports")) if target == Some("REDIRECT") => {
                t.push(format!(
                    "--to-ports {}",
                    extra.get(i + 2).ok_or("redir ports without ports")?
                ));
                i += 3;
            }
            ("LOG", Some("flags")) if target == Some("LOG") => {
                // LOG flags N level L [prefix "…"]
                let level = extra.get(i + 4).ok_or("LOG without a level")?;
                i += 5;
                if *level != "4" {
                    t.push(format!("--log-level {level}"));
                }
                if extra.get(i) == Some(&"prefix") {
                    let rest = extra[i + 1..].join(" ");
                    let p = rest.trim_matches('"');
                    t.push(format!("--log-prefix \"{p}\""));
                    i = extra.len();
                }
            }
            _ => return Err(format!("match {:?} not converted", extra[i..].join(" "))),
        }
    }
    Ok((m, t))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAT: &str = "\
Chain PREROUTING (policy ACCEPT 0 packets, 0 bytes)
num   pkts bytes target     prot opt in     out     source               destination
1        0     0 DOCKER     0    --  *      *       0.0.0.0/0            0.0.0.0/0            ADDRTYPE match dst-type LOCAL

Chain OUTPUT (policy ACCEPT 0 packets, 0 bytes)
num   pkts bytes target     prot opt in     out     source               destination
1        0     0 DOCKER     0    --  *      *       0.0.0.0/0           !127.0.0.0/8          ADDRTYPE match dst-type LOCAL

Chain POSTROUTING (policy ACCEPT 0 packets, 0 bytes)
num   pkts bytes target     prot opt in     out     source               destination
1        0     0 MASQUERADE  0    --  *      !docker0  172.17.0.0/16        0.0.0.0/0
2        0     0 MASQUERADE  6    --  *      *       172.17.0.2           172.17.0.2           tcp dpt:80

Chain DOCKER (2 references)
num   pkts bytes target     prot opt in     out     source               destination
1        0     0 RETURN     0    --  docker0 *       0.0.0.0/0            0.0.0.0/0
2        0     0 DNAT       6    --  !docker0 *       0.0.0.0/0            0.0.0.0/0            tcp dpt:8080 to:172.17.0.2:80
";

    #[test]
    fn a_nat_listing_becomes_save_text() {
        let c = convert(NAT);
        assert!(c.unconverted.is_empty(), "{:?}", c.unconverted);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let nat = &c.tables["nat"];
        for want in [
            ":PREROUTING ACCEPT [0:0]",
            ":DOCKER - [0:0]",
            "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
            "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER",
            "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE",
            "-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE",
            "-A DOCKER -i docker0 -j RETURN",
            "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80",
        ] {
            assert!(nat.lines().any(|l| l == want), "{want}\n{nat}");
        }
    }

    #[test]
    fn cut_lines_and_unknown_matches_are_named() {
        // The DOCKER chain cut out, one jump to it gone, a match netrig does not read.
        let text = "\
Chain FORWARD (policy DROP 0 packets, 0 bytes)
 pkts bytes target     prot opt in     out     source               destination
    0     0 DOCKER     0    --  *      docker0  0.0.0.0/0            0.0.0.0/0
    0     0 ACCEPT     6    --  *      *       0.0.0.0/0            0.0.0.0/0            tcp flags:0x17/0x02

Chain DOCKER-USER (1 references)
 pkts bytes target     prot opt in     out     source               destination
    0     0 RETURN     0    --  *      *       0.0.0.0/0            0.0.0.0/0
";
        let c = convert(text);
        assert_eq!(c.unconverted.len(), 1, "{:?}", c.unconverted);
        assert_eq!(c.unconverted[0].0, 4);
        assert!(
            c.warnings
                .iter()
                .any(|(n, w)| *n == 3 && w.contains("chain DOCKER,")),
            "{:?}",
            c.warnings
        );
        assert!(
            c.warnings
                .iter()
                .any(|(n, w)| *n == 6 && w.contains("DOCKER-USER says 1 references")),
            "{:?}",
            c.warnings
        );
        assert!(c.tables["filter"].contains(":DOCKER - [0:0]"));
    }
}
