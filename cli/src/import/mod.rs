//! `netrig import SNAPSHOT -o FILE.toml`: a Docker host file (plus the
//! host's rules beside it, `FILE.rules`) that rebuilds the host a snapshot
//! folder describes, and a drift report (`FILE.drift.txt`, also printed).
//!
//! Files are recognised by their content, never their names: `docker
//! inspect`, `docker network inspect` and `docker info` JSON, `ip -j`
//! JSON, `nft -j` JSON, `iptables-save`/`ip6tables-save` text (with or
//! without counters), `iptables -nvL` listings (converted best-effort,
//! every unconverted line listed), sysctl lines, and `netrig snapshot`'s
//! own MANIFEST/missing.txt. Anything else — an unknown format, JSON of
//! another tool, a truncated `iptables-save` — is an error naming the file
//! and line, and nothing is written.
//!
//! The host's IPv4 rules are kept as found and loaded in place of netrig's
//! rendering of Docker (the topology key `ruleset`); the rendering that
//! matches them best picks the layout (unless `docker info` names the
//! version) and is what the drift report compares against.

mod docker;
mod drift;
mod interfaces;
mod listing;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::Value;

use docker::{Docker, Mode};
use netrig::{Error, Result, Subject};

/// One input file, recognised.
enum Input {
    ContainerInspect(Value),
    NetworkInspect(Value),
    Info(Value),
    /// `ip -j route`: (the default route's device).
    Routes(Value),
    /// `ip -j addr` or `ip -j [-d] link`: the host's interfaces.
    Ifaces(Value, &'static str),
    /// Other `ip -j` output, nft JSON, sysctls, kernel, netrig's own notes:
    /// read, not needed to rebuild the host.
    Other(&'static str),
    /// `iptables-save` of IPv4 (`backend`: from its header, if it says).
    Save4 {
        text: String,
        backend: Option<&'static str>,
    },
    /// `ip6tables-save`.
    Save6(String),
    Listing(String),
}

/// A file's rules, ready for the rule file.
struct Rules {
    text: String,
    backend: &'static str,
    from: Vec<PathBuf>,
}

/// Runs `netrig import`.
pub(crate) fn run(dir: &Path, out: &Path) -> Result<ExitCode> {
    let files = list(dir)?;
    if files.is_empty() {
        return Err(bad(dir, "an empty folder: nothing to import"));
    }
    let mut d = Docker::default();
    let mut saves: Vec<(PathBuf, String, Option<&'static str>)> = Vec::new();
    let mut saves6: Vec<(PathBuf, String)> = Vec::new();
    let mut listings = listing::Converted::default();
    let mut listing_files = Vec::new();
    let mut had_inspect = false;
    let mut uplink: Option<String> = None;
    let mut ifaces = interfaces::Interfaces::default();
    let mut seen = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(dir).unwrap_or(f).to_path_buf();
        let input = recognise(f)?;
        let kind = match &input {
            Input::ContainerInspect(_) => "docker inspect",
            Input::NetworkInspect(_) => "docker network inspect",
            Input::Info(_) => "docker info",
            Input::Routes(_) => "ip -j route",
            Input::Ifaces(_, k) => k,
            Input::Other(k) => k,
            Input::Save4 { .. } => "iptables-save",
            Input::Save6(_) => "ip6tables-save",
            Input::Listing(_) => "iptables -nvL listing",
        };
        seen.push(format!("{}: {kind}", rel.display()));
        match input {
            Input::ContainerInspect(v) => {
                had_inspect = true;
                d.containers(&v);
            }
            Input::NetworkInspect(v) => d.networks(&v),
            Input::Info(v) => d.info(&v),
            Input::Routes(v) => {
                // Host-level routes only (a container's are in a subfolder).
                // The first default route's device (IPv4's file sorts first).
                if rel.components().count() == 1 {
                    ifaces.add_routes(&v);
                }
                if rel.components().count() == 1 && uplink.is_none() {
                    uplink = v
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|r| r["dst"] == "default" && r.get("table").is_none())
                        .and_then(|r| r["dev"].as_str())
                        .map(str::to_string);
                }
            }
            Input::Save4 { text, backend } => saves.push((rel, text, backend)),
            Input::Save6(text) => saves6.push((rel, text)),
            // A container's own interfaces are in a subfolder.
            Input::Ifaces(v, _) if rel.components().count() == 1 => ifaces.add(&v),
            Input::Ifaces(..) => {}
            Input::Other(_) => {}
            Input::Listing(text) => {
                let c = listing::convert(&text);
                for (n, line, why) in c.unconverted {
                    listings
                        .unconverted
                        .push((n, format!("{}: {line}", rel.display()), why));
                }
                for (n, w) in c.warnings {
                    listings
                        .warnings
                        .push((n, format!("{}: {w}", rel.display())));
                }
                for (t, block) in c.tables {
                    if listings.tables.insert(t.clone(), block).is_some() {
                        listings.warnings.push((
                            0,
                            format!(
                                "{}: table {t} listed twice: the last one is used",
                                rel.display()
                            ),
                        ));
                    }
                }
                listing_files.push(rel);
            }
        }
    }
    let mut report = String::from("# netrig import: drift report\n");
    let rules = choose_rules(saves, &listings, listing_files, &mut report)?;
    // The IPv6 rules go with IPv4 ones: the save with Docker's chains.
    saves6.sort_by_key(|(_, t)| !t.contains(":DOCKER"));
    let mut rules6 = match (&rules, saves6.first()) {
        (Some(_), Some((file, text))) => Some(Rules {
            text: drift::bare(text),
            backend: "ip6tables",
            from: vec![file.clone()],
        }),
        _ => None,
    };
    d.complete(had_inspect, rules.as_ref().map(|r| r.text.as_str()));
    d.containers.sort_by_key(|c| docker::time_key(&c.created));
    if d.networks.is_empty() && d.containers.is_empty() {
        return Err(bad(
            dir,
            "no Docker JSON (docker network inspect or docker inspect): nothing says what the host's networks and containers are",
        ));
    }
    // The host's other interfaces, as veths (needs the uplink to tell).
    let subs = match &uplink {
        Some(up) => {
            let bridges: Vec<String> = d
                .networks
                .iter()
                .flat_map(|n| {
                    n.bridge
                        .clone()
                        .into_iter()
                        .chain((n.id.len() >= 12).then(|| format!("br-{}", &n.id[..12])))
                })
                .collect();
            ifaces.substitutes(up, &bridges, &mut d.notes)
        }
        None if !ifaces.by_name.is_empty() => {
            d.notes.push(
                "no ip -j route: the uplink is unknown, so the host's other interfaces are not rebuilt"
                    .into(),
            );
            Vec::new()
        }
        None => Vec::new(),
    };
    let name = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "imported".into());
    let rules_path = out.with_extension("rules");
    let rules6_path = out.with_extension("rules6");
    let drift_path = out.with_extension("drift.txt");
    let mut rules = rules;
    if let (Some(r), Some(up)) = (rules.as_mut(), &uplink)
        && up != "eth0"
    {
        let renamed = rename_iface(&r.text, up, "eth0");
        if renamed != r.text {
            let _ = writeln!(
                report,
                "uplink: the host's uplink {up} is the lab's eth0 (toward the internet node); its rules say eth0 for {up}"
            );
            r.text = renamed;
        }
        if let Some(r6) = rules6.as_mut() {
            r6.text = rename_iface(&r6.text, up, "eth0");
        }
    }
    // Candidates: each layout, with the userland proxy on and off.
    let layouts = match layout_of(d.version.as_deref()) {
        Some(l) => vec![l],
        None => vec!["classic", "v28", "v29"],
    };
    let mut best: Option<(i64, &str, bool, drift::Drift, Option<drift::Drift>)> = None;
    let mut tried = Vec::new();
    for layout in &layouts {
        for proxy in [true, false] {
            let toml = topology(
                &name,
                &d,
                layout,
                rules.as_ref().map_or("iptables-nft", |r| r.backend),
                proxy,
                None,
                &subs,
            );
            let spec = netrig::topology::parse(&toml, out).map_err(|e| {
                bad(
                    dir,
                    &format!("the host it describes is not one netrig can build: {e}"),
                )
            })?;
            let (rendered, rendered6) = spec
                .docker_host("host")
                .map(|h| {
                    let r = h.rendered();
                    (r.rules, r.rules6.unwrap_or_default())
                })
                .unwrap_or_default();
            let Some(r) = &rules else {
                best.get_or_insert((0, layout, proxy, drift::Drift::default(), None));
                continue;
            };
            let dr = drift::compare(&r.text, &rendered);
            let dr6 = rules6
                .as_ref()
                .map(|r6| drift::compare(&r6.text, &rendered6));
            tried.push(format!(
                "{layout}, userland-proxy {}: {} same, {} added, {} missing, {} reordered",
                if proxy { "on" } else { "off" },
                dr.same,
                dr.added.len(),
                dr.missing.len(),
                dr.reordered.len()
            ));
            let score = dr.score() + dr6.as_ref().map_or(0, drift::Drift::score);
            if best.as_ref().is_none_or(|b| score > b.0) {
                best = Some((score, layout, proxy, dr, dr6));
            }
        }
    }
    let (_, layout, proxy, dr, dr6) = best.expect("at least one candidate");
    // ip6tables rules only where the backend has them (an iptables one).
    if rules.as_ref().is_some_and(|r| r.backend == "nftables") {
        rules6 = None;
    }
    let toml = topology(
        &name,
        &d,
        layout,
        rules.as_ref().map_or("iptables-nft", |r| r.backend),
        proxy,
        rules.as_ref().map(|_| {
            let file = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
            (
                file(&rules_path),
                rules6.as_ref().map(|_| file(&rules6_path)),
            )
        }),
        &subs,
    );
    drift_report(
        &mut report,
        &d,
        &rules,
        layout,
        proxy,
        &subs,
        &dr,
        rules6.as_ref().zip(dr6.as_ref()),
        &tried,
        &listings,
        &seen,
    );
    // Write the rules, check the whole file parses with them, then write it.
    let write = |p: &Path, text: &str| {
        std::fs::write(p, text)
            .map_err(|e| Error::io(Subject::default(), format!("write {}", p.display()), e))
    };
    if let Some(r) = &rules {
        write(&rules_path, &r.text)?;
    }
    if let Some(r6) = &rules6 {
        write(&rules6_path, &r6.text)?;
    }
    let spec = match netrig::topology::parse(&toml, out) {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&rules_path);
            let _ = std::fs::remove_file(&rules6_path);
            return Err(bad(
                dir,
                &format!("the topology it made does not load: {e}"),
            ));
        }
    };
    if let Some(host) = spec.docker_host("host") {
        for c in &d.containers {
            if let Mode::Bridge(nets) = &c.mode
                && let Some((_, ip)) = nets.first()
                && let Some(got) = host.container_ip(&c.name)
                && !ip.is_empty()
                && got.to_string() != *ip
            {
                let _ = writeln!(
                    report,
                    "warning: container {} gets {got} in the lab; the host had {ip} (Docker allocates default-bridge addresses; its rules name {ip})",
                    c.name
                );
            }
        }
    }
    write(out, &toml)?;
    write(&drift_path, &report)?;
    print!("{report}");
    println!(
        "wrote {}{}{} and {} (`netrig up {}` brings it up)",
        out.display(),
        if rules.is_some() {
            format!(", {}", rules_path.display())
        } else {
            String::new()
        },
        if rules6.is_some() {
            format!(", {}", rules6_path.display())
        } else {
            String::new()
        },
        drift_path.display(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn bad(file: &Path, message: &str) -> Error {
    Error::Topology {
        file: file.to_path_buf(),
        message: message.to_string(),
    }
}

/// Every file under `dir`, sorted.
fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| {
            Error::io(
                Subject::default(),
                format!("read folder {}", d.display()),
                e,
            )
        })?;
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// What `path` holds, by its content.
fn recognise(path: &Path) -> Result<Input> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::io(Subject::default(), format!("read {}", path.display()), e))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        bad(
            path,
            &format!(
                "not text (byte {} is not UTF-8): not a format netrig import reads",
                e.utf8_error().valid_up_to()
            ),
        )
    })?;
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Ok(Input::Other("empty file"));
    }
    if trimmed.starts_with('[') || trimmed.starts_with('{') {
        let v: Value = serde_json::from_str(&text).map_err(|e| {
            bad(
                path,
                &format!(
                    "line {}, column {}: not valid JSON ({e}); a truncated or edited file?",
                    e.line(),
                    e.column()
                ),
            )
        })?;
        return json_kind(path, v);
    }
    let first = trimmed.lines().next().unwrap_or_default();
    if first.starts_with("# netrig snapshot") || first.starts_with("# WHAT:") {
        return Ok(Input::Other("netrig snapshot notes"));
    }
    if text.lines().any(|l| l.starts_with('*'))
        && text
            .lines()
            .any(|l| l.starts_with(":") || l.trim() == "COMMIT")
    {
        return save(path, &text);
    }
    if listing::is_listing(&text) {
        return Ok(Input::Listing(text));
    }
    if text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .all(|l| l.starts_with("net.") && l.contains(" = "))
    {
        return Ok(Input::Other("sysctls"));
    }
    if first.starts_with("Linux ") {
        return Ok(Input::Other("kernel version"));
    }
    Err(bad(
        path,
        &format!(
            "line 1: {:?} is not a format netrig import reads (docker inspect/network inspect/info JSON, ip -j or nft -j JSON, iptables-save, iptables -nvL, sysctl lines)",
            first.chars().take(60).collect::<String>()
        ),
    ))
}

/// The kind of a JSON document, or an error naming what it lacks.
fn json_kind(path: &Path, v: Value) -> Result<Input> {
    if docker::is_container_inspect(&v) {
        return Ok(Input::ContainerInspect(v));
    }
    if docker::is_network_inspect(&v) {
        return Ok(Input::NetworkInspect(v));
    }
    if docker::is_info(&v) {
        return Ok(Input::Info(v));
    }
    if v.get("nftables").is_some() {
        return Ok(Input::Other("nft -j list ruleset"));
    }
    if let Some(a) = v.as_array() {
        let all = |key: &str| !a.is_empty() && a.iter().all(|x| x.get(key).is_some());
        if a.is_empty() {
            return Ok(Input::Other("empty JSON list"));
        }
        if all("addr_info") {
            return Ok(Input::Ifaces(v, "ip -j addr"));
        }
        if all("ifname") {
            return Ok(Input::Ifaces(v, "ip -j link"));
        }
        if all("dst")
            && a.iter()
                .any(|x| x.get("lladdr").is_some() || x.get("state").is_some())
        {
            return Ok(Input::Other("ip -j neigh"));
        }
        if all("dst") {
            return Ok(Input::Routes(v));
        }
        if all("priority") && all("table") {
            return Ok(Input::Other("ip -j rule"));
        }
    }
    let keys: Vec<String> = match &v {
        Value::Object(m) => m.keys().take(5).cloned().collect(),
        Value::Array(a) => a
            .first()
            .and_then(Value::as_object)
            .map(|m| m.keys().take(5).cloned().collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    Err(bad(
        path,
        &format!(
            "JSON netrig import does not know (not docker inspect, docker network inspect, docker info, ip -j or nft -j output; its keys: {})",
            keys.join(", ")
        ),
    ))
}

/// `iptables-save` text, checked: every table ends with COMMIT, every line
/// is a comment, table, chain, rule or COMMIT.
fn save(path: &Path, text: &str) -> Result<Input> {
    let mut open: Option<(usize, String)> = None;
    let mut v6 = text.lines().next().is_some_and(|l| l.contains("ip6tables"));
    for (i, l) in text.lines().enumerate() {
        let n = i + 1;
        let body = match l.strip_prefix('[') {
            Some(r) => r.split_once("] ").map_or(l, |(_, rest)| rest),
            None => l,
        };
        if l.starts_with('#') || l.trim().is_empty() {
            continue;
        } else if let Some(t) = l.strip_prefix('*') {
            if let Some((at, t0)) = &open {
                return Err(bad(
                    path,
                    &format!(
                        "line {n}: table {t} starts, but table {t0} (line {at}) has no COMMIT"
                    ),
                ));
            }
            open = Some((n, t.to_string()));
        } else if l.trim() == "COMMIT" {
            if open.take().is_none() {
                return Err(bad(path, &format!("line {n}: COMMIT outside a table")));
            }
        } else if l.starts_with(':') || body.starts_with("-A ") || body.starts_with("-I ") {
            if open.is_none() {
                return Err(bad(
                    path,
                    &format!(
                        "line {n}: a chain or rule outside a table (no *table line before it)"
                    ),
                ));
            }
            if body.contains(" -s ") && body.split_whitespace().any(|w| w.contains("::")) {
                v6 = true;
            }
        } else {
            return Err(bad(
                path,
                &format!("line {n}: {l:?} is not an iptables-save line"),
            ));
        }
    }
    if let Some((at, t)) = open {
        return Err(bad(
            path,
            &format!("table {t} (line {at}) has no COMMIT: the file is cut short"),
        ));
    }
    if v6 {
        return Ok(Input::Save6(text.to_string()));
    }
    let first = text.lines().next().unwrap_or_default();
    let backend = if first.contains("(nf_tables)") {
        Some("iptables-nft")
    } else if first.contains("(legacy)") {
        Some("iptables-legacy")
    } else {
        None
    };
    Ok(Input::Save4 {
        text: text.to_string(),
        backend,
    })
}

/// The IPv4 rules to load: the `iptables-save` with Docker's chains (or
/// the only one), else the converted listings.
fn choose_rules(
    mut saves: Vec<(PathBuf, String, Option<&'static str>)>,
    listings: &listing::Converted,
    listing_files: Vec<PathBuf>,
    report: &mut String,
) -> Result<Option<Rules>> {
    saves.sort_by_key(|(_, t, _)| !t.contains(":DOCKER"));
    if let Some((file, text, backend)) = saves.first() {
        for (other, _, b) in &saves[1..] {
            let _ = writeln!(
                report,
                "warning: {} ({}) has rules too; only {} is loaded",
                other.display(),
                b.unwrap_or("iptables"),
                file.display()
            );
        }
        if !listing_files.is_empty() {
            let _ = writeln!(
                report,
                "note: the listings are not used: {} is an iptables-save",
                file.display()
            );
        }
        return Ok(Some(Rules {
            text: drift::bare(text),
            backend: backend.unwrap_or("iptables-nft"),
            from: vec![file.clone()],
        }));
    }
    if listings.tables.is_empty() {
        return Ok(None);
    }
    let mut text = String::new();
    for t in ["raw", "mangle", "nat", "filter"] {
        if let Some(b) = listings.tables.get(t) {
            text.push_str(b);
        }
    }
    Ok(Some(Rules {
        text,
        backend: "iptables-nft",
        from: listing_files,
    }))
}

/// The layout of a Docker version (`docker info`'s ServerVersion).
fn layout_of(version: Option<&str>) -> Option<&'static str> {
    let major: u32 = version?.split('.').next()?.parse().ok()?;
    let minor: u32 = version?
        .split('.')
        .nth(1)?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()?;
    Some(match (major, minor) {
        (..=27, _) => "classic",
        (28, 0..=1) => "classic",
        (28, _) => "v28",
        _ => "v29",
    })
}

/// `text` with interface `from` named `to` where rules name it.
fn rename_iface(text: &str, from: &str, to: &str) -> String {
    text.lines()
        .map(|l| {
            let w: Vec<&str> = l.split(' ').collect();
            let mut out = Vec::with_capacity(w.len());
            for (i, x) in w.iter().enumerate() {
                let flag =
                    i > 0 && matches!(w[i - 1], "-i" | "-o" | "--in-interface" | "--out-interface");
                out.push(if flag && *x == from { to } else { x });
            }
            out.join(" ") + "\n"
        })
        .collect()
}

fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The Docker host file (`ruleset`: the rule files, IPv4's and IPv6's, if any).
fn topology(
    name: &str,
    d: &Docker,
    layout: &str,
    backend: &str,
    proxy: bool,
    ruleset: Option<(String, Option<String>)>,
    subs: &[interfaces::Substituted],
) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# Imported by `netrig import` from a snapshot{}.",
        d.version
            .as_ref()
            .map(|v| format!(" of Docker {v}"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        t,
        "# The host's rules as found are in `ruleset`; the drift report says how they differ from Docker's."
    );
    let _ = writeln!(t, "name = {}", q(name));
    // Creation order: networks and containers by their Created times.
    // A container seen only as a network's member has that network's time:
    // networks first at equal times; otherwise the order they were read in.
    let mut events: Vec<((String, u8), String)> = d
        .networks
        .iter()
        .filter(|n| !n.default)
        .map(|n| {
            (
                (docker::time_key(&n.created), 0),
                format!("network:{}", n.name),
            )
        })
        .chain(d.containers.iter().map(|c| {
            (
                (docker::time_key(&c.created), 1),
                format!("container:{}", c.name),
            )
        }))
        .collect();
    events.sort_by(|a, b| a.0.cmp(&b.0));
    let order: Vec<String> = events.into_iter().map(|(_, e)| q(&e)).collect();
    let _ = writeln!(t, "order = [{}]", order.join(", "));
    if let Some((r, r6)) = ruleset {
        let _ = writeln!(t, "ruleset = {}", q(&r));
        if let Some(r6) = r6 {
            let _ = writeln!(t, "ruleset6 = {}", q(&r6));
        }
    }
    let _ = writeln!(
        t,
        "\n[daemon]\nlayout = {}\nbackend = {}",
        q(layout),
        q(backend)
    );
    if !proxy {
        let _ = writeln!(t, "userland_proxy = false");
    }
    if let Some(def) = d.networks.iter().find(|n| n.default) {
        if !def.icc {
            let _ = writeln!(t, "icc = false");
        }
        if !def.ip_masq {
            let _ = writeln!(t, "ip_masq = false");
        }
        if let Some(s) = def.subnet.as_deref().filter(|s| *s != "172.17.0.0/16") {
            let _ = writeln!(t, "default_subnet = {}", q(s));
        }
    }
    for n in d.networks.iter().filter(|n| !n.default) {
        let _ = writeln!(t, "\n[[network]]\nname = {}", q(&n.name));
        if n.id.len() == 64 {
            let _ = writeln!(t, "id = {}", q(&n.id));
        }
        if let Some(b) = &n.bridge {
            let _ = writeln!(t, "bridge = {}", q(b));
        }
        if let Some(s) = &n.subnet {
            let _ = writeln!(t, "subnet = {}", q(s));
        }
        if let Some(g) = &n.gateway {
            let _ = writeln!(t, "gateway = {}", q(g));
        }
        for (k, v, def) in [
            ("icc", n.icc, true),
            ("ip_masq", n.ip_masq, true),
            ("internal", n.internal, false),
        ] {
            if v != def {
                let _ = writeln!(t, "{k} = {v}");
            }
        }
        if let Some(h) = &n.host_binding {
            let _ = writeln!(t, "host_binding = {}", q(h));
        }
        if let Some(g) = n
            .gateway_mode
            .as_deref()
            .filter(|g| *g != "nat" && layout != "classic")
        {
            let _ = writeln!(t, "gateway_mode_ipv4 = {}", q(g));
        }
    }
    let default_name = d
        .networks
        .iter()
        .find(|n| n.default)
        .map_or("bridge", |n| n.name.as_str());
    for c in &d.containers {
        let _ = writeln!(t, "\n[[container]]\nname = {}", q(&c.name));
        match &c.mode {
            Mode::Host => {
                let _ = writeln!(t, "network = \"host\"");
            }
            Mode::None => {
                let _ = writeln!(t, "network = \"none\"");
            }
            Mode::Container(x) => {
                let _ = writeln!(t, "network = {}", q(&format!("container:{x}")));
            }
            Mode::Bridge(nets) => {
                let named = |n: &str| {
                    if n == default_name {
                        "bridge".to_string()
                    } else {
                        n.to_string()
                    }
                };
                let on_default_only = nets.len() == 1 && nets[0].0 == default_name;
                if nets.len() == 1 && !on_default_only {
                    let _ = writeln!(t, "network = {}", q(&nets[0].0));
                } else if nets.len() > 1 {
                    let list: Vec<String> = nets.iter().map(|(n, _)| q(&named(n))).collect();
                    let _ = writeln!(t, "networks = [{}]", list.join(", "));
                }
                // Docker takes no address on the default bridge: the
                // allocation gives it (checked after parsing).
                if nets.len() == 1 && !nets[0].1.is_empty() && !on_default_only {
                    let _ = writeln!(t, "ip = {}", q(&nets[0].1));
                } else if nets.len() > 1 {
                    let ips: Vec<String> = nets
                        .iter()
                        .filter(|(n, ip)| !ip.is_empty() && n != default_name)
                        .map(|(n, ip)| format!("{} = {}", q(&named(n)), q(ip)))
                        .collect();
                    let _ = writeln!(t, "ips = {{ {} }}", ips.join(", "));
                }
            }
        }
        if !c.ports.is_empty() {
            let ports: Vec<String> = c.ports.iter().map(|p| q(p)).collect();
            let _ = writeln!(t, "ports = [{}]", ports.join(", "));
        }
    }
    for s in subs {
        let list = |v: &[String]| v.iter().map(|x| q(x)).collect::<Vec<_>>().join(", ");
        let _ = writeln!(
            t,
            "\n# {} on the real host: a veth of the same name and addresses here",
            s.kind
        );
        let _ = writeln!(t, "[[interface]]\nname = {}", q(&s.name));
        let _ = writeln!(t, "addresses = [{}]", list(&s.addresses));
        if !s.routes.is_empty() {
            let _ = writeln!(t, "routes = [{}]", list(&s.routes));
        }
    }
    t
}

/// The drift report.
#[allow(clippy::too_many_arguments)]
fn drift_report(
    r: &mut String,
    d: &Docker,
    rules: &Option<Rules>,
    layout: &str,
    proxy: bool,
    subs: &[interfaces::Substituted],
    dr: &drift::Drift,
    six: Option<(&Rules, &drift::Drift)>,
    tried: &[String],
    listings: &listing::Converted,
    seen: &[String],
) {
    let _ = writeln!(r, "\nread:");
    for s in seen {
        let _ = writeln!(r, "  {s}");
    }
    let _ = writeln!(
        r,
        "\nhost: Docker {}, {} network(s), {} container(s)",
        d.version
            .as_deref()
            .unwrap_or("(version unknown: no docker info)"),
        d.networks.len(),
        d.containers.len()
    );
    for n in &d.notes {
        let _ = writeln!(r, "note: {n}");
    }
    interfaces::report(r, subs);
    let Some(rules) = rules else {
        let _ = writeln!(
            r,
            "\nno IPv4 rules in the snapshot: netrig's rendering of Docker ({layout}) is used"
        );
        return;
    };
    let from: Vec<String> = rules.from.iter().map(|p| p.display().to_string()).collect();
    let _ = writeln!(
        r,
        "\nrules: {} ({}), loaded as found",
        from.join(", "),
        rules.backend
    );
    if !listings.unconverted.is_empty() || !listings.warnings.is_empty() {
        for (n, line, why) in &listings.unconverted {
            let (file, text) = line.split_once(": ").unwrap_or(("", line));
            let _ = writeln!(r, "not converted: {file}: line {n}: {why}: {}", text.trim());
        }
        for (n, w) in &listings.warnings {
            let _ = writeln!(r, "warning: line {n}: {w}");
        }
    }
    let _ = writeln!(
        r,
        "\nbest match: layout {layout}, backend {}, userland-proxy {}",
        rules.backend,
        if proxy { "on" } else { "off" }
    );
    for t in tried {
        let _ = writeln!(r, "  tried {t}");
    }
    drift_lines(r, "", dr);
    if let Some((r6, dr6)) = six {
        let from: Vec<String> = r6.from.iter().map(|p| p.display().to_string()).collect();
        let _ = writeln!(r, "\nIPv6 rules: {}, loaded as found", from.join(", "));
        drift_lines(r, "IPv6 ", dr6);
    }
}

/// The drift of one family's rules (`family`: "" or "IPv6 ").
fn drift_lines(r: &mut String, family: &str, dr: &drift::Drift) {
    if dr.is_empty() {
        let _ = writeln!(
            r,
            "\nno {family}drift: the host's {family}rules are netrig's rendering of this Docker, rule for rule"
        );
        return;
    }
    let _ = writeln!(
        r,
        "\n{family}drift from netrig's rendering ({} rules the same):",
        dr.same
    );
    for (what, list) in [
        ("added by someone else (not Docker's)", &dr.added),
        ("missing (Docker would have them)", &dr.missing),
        ("in another order", &dr.reordered),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(r, "  {what}: {}", list.len());
        for (table, line) in list.iter() {
            let _ = writeln!(r, "    {table}: {line}");
        }
    }
}
