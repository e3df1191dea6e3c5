//! topologies/docker-firewalld-real.toml: the real firewalld (Debian's
//! 1.3.3) on a Docker host, confined to the host's node on a D-Bus system
//! bus of its own. The public zone on the uplink does not constrain the
//! published port (firewalld#1536) but rejects the host's own ports, the
//! matrix's why naming firewalld's chains; Docker's bridge is in the
//! `docker` zone; a reload flushes Docker's rules until Docker's handler
//! re-applies them. The machine's /etc/firewalld, D-Bus, sysctls and
//! processes stay as they were.

use std::collections::BTreeMap;

use netrig::reach::{Cell, Matrix, Outcome};
use netrig::testing::{Skip, Test};
use netrig::{LabSpec, Result};

const TOPOLOGY: &str = "topologies/docker-firewalld-real.toml";

fn spec(name: &str) -> Result<LabSpec> {
    let mut spec = netrig::topology::load(TOPOLOGY)?;
    spec.set_name(netrig::unique_lab_name(name));
    Ok(spec)
}

/// The topology with `extra` TOML appended (written next to it, removed after).
fn spec_with(name: &str, extra: &str) -> Result<LabSpec> {
    let text = std::fs::read_to_string(TOPOLOGY).expect("read the topology") + extra;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("firewalld.toml");
    std::fs::write(&path, text).expect("write");
    let mut spec = netrig::topology::load(&path)?;
    spec.set_name(netrig::unique_lab_name(name));
    Ok(spec)
}

fn cell(text: &str) -> Cell {
    let (from, to) = text.split_once(" -> ").expect("FROM -> TO");
    Cell::parse(from, to).expect("cell")
}

fn firewall_cmd(lab: &netrig::Lab, args: &[&str]) -> String {
    let out = lab
        .node("host")
        .expect("host")
        .command("firewall-cmd")
        .args(args)
        .checked_output()
        .expect("firewall-cmd");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The topology comes up; Docker's bridge is in the `docker` zone, the
/// uplink in `public`, the 28.5 daemon's docker-forwarding policy is
/// there; the internet reaches the published port (nothing in the public
/// zone constrains it) while the host's own 8081 is rejected, the why
/// naming firewalld's public zone chain; the container's traffic out is
/// accepted by the docker zone's forward chain.
fn firewalld_zones_and_the_why() -> Result<()> {
    let lab = spec("fwd-real")?.up()?;
    let zones = firewall_cmd(&lab, &["--get-active-zones"]);
    assert!(zones.contains("docker\n  interfaces: docker0"), "{zones}");
    assert!(zones.contains("public\n  interfaces: eth0"), "{zones}");
    let policy = firewall_cmd(&lab, &["--info-policy=docker-forwarding"]);
    assert!(policy.contains("target: ACCEPT"), "{policy}");
    assert!(policy.contains("egress-zones: docker"), "{policy}");
    let m = Matrix::probe(&lab)?;
    let text = m.render(netrig::reach::Format::Text);
    let published = m
        .row(&cell("internet -> 203.0.113.2:8080/tcp"))
        .expect("8080");
    assert_eq!(published.outcome, Outcome::Delivered, "{text}");
    let own = m
        .row(&cell("internet -> 203.0.113.2:8081/tcp"))
        .expect("8081");
    assert_ne!(own.outcome, Outcome::Delivered, "{text}");
    assert_eq!(own.why[0].table, "inet firewalld", "{text}");
    assert_eq!(own.why[0].chain, "filter_IN_public", "{text}");
    let out = m
        .row(&cell("web -> 198.51.100.10:80/tcp"))
        .expect("web out");
    assert_eq!(out.outcome, Outcome::Delivered, "{text}");
    assert!(
        out.why.iter().any(|w| w.chain == "filter_FWD_docker"),
        "{text}"
    );
    Ok(())
}

/// A firewalld reload flushes the iptables tables Docker's rules are in
/// (and forgets the docker0 binding): run by hand, without Docker's
/// handler, the published port is no longer DNATed and the public zone
/// rejects it; as an `[after] firewalld` list, Docker's reload handler
/// re-applies its rules and the port is reached again.
fn firewalld_reload_flushes_dockers_rules_until_its_handler() -> Result<()> {
    let lab = spec("fwd-reload")?.up()?;
    let published = cell("internet -> 203.0.113.2:8080/tcp");
    firewall_cmd(&lab, &["--reload"]);
    let rules = lab.node("host")?.rules(netrig::Backend::IptablesNft)?;
    assert!(!rules.contains("DOCKER"), "{rules}");
    let m = Matrix::probe(&lab)?;
    let row = m.row(&published).expect("8080");
    assert_ne!(row.outcome, Outcome::Delivered);
    assert_eq!(row.why[0].chain, "filter_IN_public", "{:?}", row.why);
    drop(lab);
    let lab = spec_with("fwd-reload-h", "\n[after]\nfirewalld = [\"--reload\"]\n")?.up()?;
    let zones = firewall_cmd(&lab, &["--get-active-zones"]);
    assert!(zones.contains("docker\n  interfaces: docker0"), "{zones}");
    let m = Matrix::probe(&lab)?;
    assert_eq!(m.row(&published).expect("8080").outcome, Outcome::Delivered);
    Ok(())
}

/// The machine's /etc/firewalld and /run/dbus, byte for byte (a missing path too).
fn machine_files() -> BTreeMap<String, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut todo: Vec<std::path::PathBuf> = vec!["/etc/firewalld".into(), "/run/dbus".into()];
    while let Some(p) = todo.pop() {
        if p.is_dir() {
            // Unreadable here (the rootless run): its being so is what is compared.
            match std::fs::read_dir(&p) {
                Ok(entries) => todo.extend(entries.flatten().map(|e| e.path())),
                Err(e) => {
                    out.insert(p.display().to_string(), Some(e.to_string().into_bytes()));
                }
            }
        } else {
            out.insert(p.display().to_string(), std::fs::read(&p).ok());
        }
    }
    out
}

/// Unix sockets of the machine's netns bound or accepted on its system bus.
fn machine_bus_sockets() -> usize {
    std::fs::read_to_string("/proc/net/unix")
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            l.ends_with(" /run/dbus/system_bus_socket")
                || l.ends_with(" /var/run/dbus/system_bus_socket")
        })
        .count()
}

/// Pids of processes named firewalld or dbus-daemon.
fn daemons() -> Vec<u32> {
    (std::fs::read_dir("/proc").expect("/proc").flatten())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            matches!(comm.trim(), "firewalld" | "dbus-daemon")
        })
        .collect()
}

fn root_sysctl(key: &str) -> String {
    std::fs::read_to_string(format!("/proc/sys/{key}")).unwrap_or_default()
}

/// firewalld runs with the lab's /etc/firewalld and /run and its own bus:
/// the machine's /etc/firewalld and /run/dbus stay byte-identical, no
/// socket appears on the machine's bus, the forwarding sysctls firewalld
/// writes (the only ones it writes) land in the node and not in the root
/// namespace, and firewalld and its bus — running in the node — are gone
/// with the lab.
fn firewalld_leaves_the_machine_untouched() -> Result<()> {
    let (files, sockets, pids) = (machine_files(), machine_bus_sockets(), daemons());
    let keys = ["net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"];
    let root: Vec<String> = keys.iter().map(|k| root_sysctl(k)).collect();
    let lab = spec("fwd-machine")?.up()?;
    let host = lab.node("host")?;
    // firewalld and its bus run in the node (other labs' may run meanwhile).
    let node_ns = host
        .command("readlink")
        .arg("/proc/self/ns/net")
        .checked_output()?;
    let node_ns = String::from_utf8_lossy(&node_ns.stdout).trim().to_string();
    let in_node = |pid: &u32| {
        std::fs::read_link(format!("/proc/{pid}/ns/net"))
            .is_ok_and(|n| n.display().to_string() == node_ns)
    };
    let ours: Vec<u32> = daemons().into_iter().filter(in_node).collect();
    assert_eq!(ours.len(), 2, "firewalld and its dbus-daemon: {ours:?}");
    assert!(ours.iter().all(|p| !pids.contains(p)));
    // Masquerading turns IPv4 forwarding on, an IPv6 forward port IPv6
    // forwarding: firewalld writes both through /proc/sys/net, in the node.
    host.sysctl_set("net.ipv4.ip_forward", "0")?;
    host.sysctl_set("net.ipv6.conf.all.forwarding", "0")?;
    firewall_cmd(&lab, &["--zone=public", "--add-masquerade"]);
    assert_eq!(host.sysctl_get("net.ipv4.ip_forward")?, "1");
    firewall_cmd(
        &lab,
        &[
            "--zone=public",
            "--add-forward-port=port=2222:proto=tcp:toport=22:toaddr=fd00::1",
        ],
    );
    assert_eq!(host.sysctl_get("net.ipv6.conf.all.forwarding")?, "1");
    assert_eq!(
        machine_bus_sockets(),
        sockets,
        "a socket on the machine's bus"
    );
    drop(lab);
    let left: Vec<u32> = daemons().into_iter().filter(|p| ours.contains(p)).collect();
    assert!(left.is_empty(), "left running: {left:?}");
    assert!(
        machine_files() == files,
        "the machine's /etc/firewalld or /run/dbus changed"
    );
    let now: Vec<String> = keys.iter().map(|k| root_sysctl(k)).collect();
    assert_eq!(now, root, "root sysctls {keys:?}");
    Ok(())
}

/// A list firewalld refuses stops `up`, naming where it was given.
fn firewalld_refuses_a_list_naming_its_place() -> Result<()> {
    let bad = "\n[after]\nfirewalld = [\"--zone=nosuchzone --add-service=ssh\"]\n";
    let err = spec_with("fwd-bad", bad)?
        .up()
        .expect_err("firewalld refuses an unknown zone")
        .to_string();
    assert!(err.contains("[after] firewalld[0]"), "{err}");
    assert!(err.contains("INVALID_ZONE"), "{err}");
    Ok(())
}

/// A file of firewall-cmd lists (`netrig diff --after firewalld:FILE`)
/// runs on the host's firewalld after Docker: opening 8081 in the public
/// zone turns the host's 8081 from rejected by `filter_IN_public` into
/// delivered by `filter_IN_public_allow`. A file of ufw commands for this host is refused when given,
/// naming its line and the host's manager.
fn firewalld_command_file_changes_a_cell() -> Result<()> {
    let own = cell("internet -> 203.0.113.2:8081/tcp");
    let before = spec("fwd-file-b")?.up()?;
    let after = spec("fwd-file-a")?
        .manager_file("host", "topologies/firewalld/open-8081.txt")?
        .up()?;
    let d = netrig::reach::MatrixDiff::probe(&before, &after)?;
    let (was, now) = (d.changed.iter())
        .find(|(b, _)| b.cell == own)
        .expect("the host's 8081 cell changed");
    assert_eq!(was.why[0].chain, "filter_IN_public", "{:?}", was.why);
    assert_eq!(now.outcome, Outcome::Delivered, "{now:?}");
    assert_eq!(now.why[0].chain, "filter_IN_public_allow", "{:?}", now.why);
    let ports = firewall_cmd(&after, &["--zone=public", "--list-ports"]);
    assert_eq!(ports.trim(), "8081/tcp");
    let err = spec("fwd-file-e")?
        .manager_file("host", "topologies/ufw/route-deny-80.txt")
        .expect_err("ufw commands for a firewalld host")
        .to_string();
    assert!(err.contains("route-deny-80.txt"), "{err}");
    assert!(err.contains("line 2: not a firewalld command"), "{err}");
    assert!(err.contains("runs firewalld"), "{err}");
    Ok(())
}

/// Skips (fails under CI=true) where firewalld is not installed.
fn firewalld_installed() -> Option<Skip> {
    let ok = [
        "/usr/sbin/firewalld",
        "/usr/bin/firewall-cmd",
        "/usr/bin/dbus-daemon",
    ]
    .iter()
    .all(|p| std::path::Path::new(p).is_file());
    (!ok).then(|| {
        Skip::unless_required(
            "firewalld is not installed (packages firewalld, dbus-daemon; ci/setup.sh installs them)",
        )
    })
}

/// This module's tests.
pub fn tests() -> Vec<Test> {
    netrig::testing::tests![
        firewalld_zones_and_the_why,
        firewalld_reload_flushes_dockers_rules_until_its_handler,
        firewalld_leaves_the_machine_untouched,
        firewalld_refuses_a_list_naming_its_place,
        firewalld_command_file_changes_a_cell,
    ]
    .into_iter()
    .map(|t| t.needs(firewalld_installed))
    .collect()
}
