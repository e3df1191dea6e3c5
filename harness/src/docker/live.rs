//! Docker's rule operations on a daemon that is already running: a container
//! started after `up` is programmed on top of the host's live rules
//! (whatever a user added since), so its inserts and appends land around
//! them as they do on a real host, and counters of the rules already there
//! are kept. The operations come from the same replay that renders a host
//! from scratch.

use super::host::{DockerHost, Event};
use super::layout::Layout;
use super::ruleset::{Replay, Ruleset, Table};

/// The `iptables-restore --noflush` script of Docker's operations when the
/// last event of `host`, a container start, happens on a host whose live
/// raw, nat and filter rules are `live` (from [`parse_live`]); empty when
/// the start changes no rule.
pub(crate) fn container_start_script(host: &DockerHost, live: &Ruleset) -> String {
    let Some(Event::StartContainer(name)) = host.events().last() else {
        return String::new();
    };
    let Some(c) = host.container(name) else {
        return String::new();
    };
    let proxy = host.daemon().userland_proxy;
    let mut r = Replay::new(&[Table::Raw, Table::Nat, Table::Filter], Some(live));
    match host.layout() {
        Layout::Classic => super::iptables::classic_container(&mut r, host, c, proxy),
        Layout::V28 | Layout::V29 => super::modern::container(&mut r, host, c, proxy),
    }
    r.noflush_script()
}

/// The raw, nat and filter tables of `iptables-save` output (with or
/// without `-c` counters; other tables skipped), as a [`Ruleset`].
pub(crate) fn parse_live(saved: &str) -> Result<Ruleset, (usize, String)> {
    let mut kept = String::new();
    let mut skipping = false;
    for line in saved.lines() {
        let line = line.trim();
        if let Some(table) = line.strip_prefix('*') {
            skipping = !matches!(table.trim(), "raw" | "nat" | "filter");
        }
        if skipping {
            skipping = line != "COMMIT";
            continue;
        }
        // `[packets:bytes] -A …` with -c: the rule as written after it.
        let rule = match line.strip_prefix('[') {
            Some(rest) if line.contains("] -A ") => rest.split_once("] ").map_or(line, |(_, r)| r),
            _ => line,
        };
        kept.push_str(rule);
        kept.push('\n');
    }
    Ruleset::parse_save(&kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::ContainerSpec;

    /// Inserting into a chain that does not exist yet declares it first;
    /// an existing one is never declared (`--noflush` would flush it).
    #[test]
    fn the_script_declares_only_new_chains() {
        let live =
            Ruleset::parse_save("*filter\n:DOCKER - [0:0]\n-A DOCKER -j RETURN\nCOMMIT\n").unwrap();
        let mut r = Replay::new(&[Table::Filter], Some(&live));
        r.insert(Table::Filter, "NEW", "-j RETURN");
        r.insert(Table::Filter, "DOCKER", "-j RETURN");
        r.append_unique(Table::Filter, "DOCKER", "-j RETURN");
        r.insert(Table::Filter, "DOCKER", "-j DROP");
        assert_eq!(
            r.noflush_script(),
            "*filter\n:NEW - [0:0]\n-I NEW -j RETURN\n-I DOCKER -j DROP\nCOMMIT\n"
        );
    }

    /// On live rules where a user appended a DROP to `DOCKER`, a later
    /// container's ACCEPT is appended after it; the script declares no
    /// existing chain (which `--noflush` would flush).
    #[test]
    fn a_later_container_lands_after_the_users_rules() {
        let host = DockerHost::builder()
            .container(ContainerSpec::new("web").publish("8080:80"))
            .build()
            .unwrap();
        let mut live = host.running().iptables();
        let filter = live
            .tables
            .iter_mut()
            .find(|t| t.table == Table::Filter)
            .unwrap();
        let docker = filter
            .chains
            .iter_mut()
            .find(|c| c.name == "DOCKER")
            .unwrap();
        docker.rules.push("-i eth0 -p tcp -j DROP".into());
        let saved = format!(
            "*mangle\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n{}",
            live.iptables_restore()
        );
        let live = parse_live(&saved).unwrap();
        let next = host
            .with_container(ContainerSpec::new("late").publish("9090:80"))
            .unwrap();
        let script = container_start_script(&next, &live);
        assert!(!script.contains(":DOCKER"), "{script}");
        assert!(
            script.contains("-A DOCKER -d 172.17.0.3/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT"),
            "{script}"
        );
        assert!(script.contains("*nat\n-A DOCKER ! -i docker0 -p tcp -m tcp --dport 9090 -j DNAT --to-destination 172.17.0.3:80"), "{script}");
    }
}
