//! A Docker host file brought up on a real daemon (lab layer): the host's
//! wiring without what Docker makes (the host, the internet, LAN peers and
//! their links, addresses and routes), a real dockerd confined to the host
//! node ([`crate::confined::dockerd`]), the file's networks and containers
//! created on it in the file's order (`docker network create`, `docker
//! run`), each container's namespace adopted as its node, the user's rule
//! files loaded after Docker's. The lab has the file's model as its Docker
//! part, so the matrix, `rules`, trace and captures work on it as on the
//! emulation; the daemon (and every container) goes with the lab.

use std::path::Path;

use super::{HeldPorts, PartState};
use crate::confined::dockerd::{DaemonConfig, IMAGE, RealDaemon};
use crate::docker::{DockerHost, Event, GatewayMode, HOST_NODE, Networking, Version};
use crate::error::{Error, Result, Subject};
use crate::lab::Lab;
use crate::spec::LabSpec;
use crate::wiring::{NodeSpec, Wiring};

/// Default bridge's address when the daemon is given no `--bip`.
const DEFAULT_BIP: &str = "172.17.0.1/16";

impl LabSpec {
    /// The release of a real `dockerd` (`dockerd --version`; a path, or a
    /// name on `PATH`, in `rootfs` when given), as netrig emulates it: a
    /// release newer than netrig knows is taken as the newest it knows of
    /// that layout (a warning says so). Load a file for
    /// [`LabSpec::up_real_docker`] with it
    /// ([`Overrides::version`](crate::topology::Overrides::version)), and
    /// emulate the same release beside it.
    pub fn real_docker_release(dockerd: &Path, rootfs: Option<&Path>) -> Result<Version> {
        let text = crate::confined::dockerd::dockerd_version(dockerd, rootfs)?;
        if let Ok(v) = text.parse() {
            return Ok(v);
        }
        let major: u8 = text
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(u8::MAX);
        let newest = Version::newest(Version::new(major, 0, 0).layout());
        tracing::warn!(release = %text, emulated = %newest, "a Docker release netrig does not know: emulated as the newest of its layout");
        Ok(newest)
    }

    /// Brings this Docker host file's lab up on a real Docker daemon
    /// (`dockerd`: a path, or a name looked up on `PATH`) instead of
    /// emulating it: the daemon runs confined to the host node (its own
    /// network, mount and pid namespaces; data, sockets and cgroups the
    /// lab's), the file's networks and containers are created on it, and
    /// each container's namespace becomes the container's node. The file's
    /// model stays the lab's Docker part (`lab.docker("host")`), so every
    /// matrix, rule read and capture works on it; dropping the lab kills
    /// the daemon and its containers. Needs root, dockerd, containerd,
    /// runc, the docker CLI and busybox-static.
    ///
    /// With `rootfs` (a Debian tree with docker.io installed, as
    /// `real-docker-28.sh install` makes for Docker 28.5.2), `dockerd` is
    /// looked up in it and the daemon and its helpers run with it as their
    /// root (`pivot_root` in the daemon's private mount namespace).
    ///
    /// The file's layout must be the daemon's: load it with
    /// [`Overrides::version`](crate::topology::Overrides::version) set to
    /// [`LabSpec::real_docker_release`].
    pub fn up_real_docker(&self, dockerd: &Path, rootfs: Option<&Path>) -> Result<Lab> {
        let subject = Subject::lab(self.name());
        if crate::privilege::in_user_namespace() {
            return Err(Error::NotPrivileged {
                detail: "a real dockerd needs the real root (it gives its socket to group \
                         `docker` and makes cgroups): run netrig verify as root, not in a user \
                         namespace"
                    .into(),
            });
        }
        let part = match self.docker.as_slice() {
            [p] if p.standalone => p,
            _ => {
                return Err(Error::invalid(
                    subject,
                    "docker",
                    "a real daemon runs a Docker host file (one host, its containers), not a generic lab",
                ));
            }
        };
        let model = &part.host;
        refuse_unsupported(&subject, model)?;
        let release = LabSpec::real_docker_release(dockerd, rootfs)?;
        if release.layout() != model.layout() {
            return Err(Error::invalid(
                subject,
                "layout",
                format!(
                    "the file is loaded with layout {}, but the real dockerd is Docker {release} \
                     (layout {}): load it with Overrides {{ version: Some({release}), .. }} \
                     (netrig verify does)",
                    model.layout(),
                    release.layout()
                ),
            ));
        }
        let mut wiring = real_wiring(model);
        wiring.name = self.name().to_string();
        let mut lab = Lab::build(&wiring)?;
        let host_ns = lab.node(HOST_NODE)?.ns().clone();
        let daemon = RealDaemon::start(
            &host_ns,
            &DaemonConfig {
                dockerd: dockerd.to_path_buf(),
                rootfs: rootfs.map(Path::to_path_buf),
                backend: model.backend(),
                args: daemon_args(model),
            },
        )?;
        if !model.containers().is_empty() {
            daemon.import_busybox()?;
        }
        replay(&daemon, model)?;
        for c in model.containers() {
            match &c.networking {
                Networking::Bridge(_) | Networking::None => {
                    let pid = daemon.container_pid(&c.name)?;
                    lab.adopt_node(&c.name, Path::new(&format!("/proc/{pid}/ns/net")))?;
                }
                Networking::Host | Networking::Container(_) => {}
            }
        }
        for c in model.containers() {
            if matches!(c.networking, Networking::Host | Networking::Container(_)) {
                lab.add_alias(&c.name, &model.node_of(&c.name))?;
            }
        }
        lab.reread_interfaces(HOST_NODE)?;
        for f in model.rule_files() {
            model.load_rule_file(&host_ns, f, "loading user rules (real daemon)")?;
        }
        lab.running.parts = vec![PartState {
            spec: part.clone(),
            held: HeldPorts::default(),
            firewalld: None,
        }];
        lab.running.daemons.push(daemon);
        lab.spec = self.clone();
        Ok(lab)
    }
}

/// What a real daemon cannot be given from a file here: ufw, rules or
/// sysctls from before Docker, daemon restarts.
fn refuse_unsupported(subject: &Subject, model: &DockerHost) -> Result<()> {
    let why = if model.ufw().is_used() {
        Some("ufw on the host ([before]/[after] ufw)")
    } else if model.firewalld().is_used() {
        Some("firewalld on the host ([before]/[after] firewalld)")
    } else if !model.existing_rule_files().is_empty() || !model.existing_sysctls().is_empty() {
        Some("rules or sysctls from before Docker ([before])")
    } else if model
        .events()
        .iter()
        .any(|e| matches!(e, Event::RestartDaemon | Event::StartExisting(_)))
    {
        Some("a daemon restart")
    } else {
        None
    };
    match why {
        Some(w) => Err(Error::invalid(
            subject.clone(),
            "docker",
            format!(
                "the real daemon is not given {w} yet: verify this file with the emulation alone"
            ),
        )),
        None => Ok(()),
    }
}

/// The host's wiring less what Docker makes: no container nodes, bridges,
/// veths or container routes; the host forwards only if it did before Docker.
fn real_wiring(model: &DockerHost) -> Wiring {
    let full = model.lab_spec();
    let containers: Vec<&str> = model.containers().iter().map(|c| c.name.as_str()).collect();
    let docker_bridges: Vec<&str> = model.networks().iter().map(|n| n.bridge.as_str()).collect();
    let ours = |node: &str| !containers.contains(&node);
    let d = model.daemon();
    let mut w = Wiring::new(&full.name).static_neighbours(full.static_neighbours);
    for n in &full.nodes {
        if n.name == HOST_NODE {
            w.nodes.push(
                NodeSpec::new(HOST_NODE)
                    .forwarding(d.ip_forward_was_on)
                    .ipv6(d.layout.is_modern()),
            );
        } else if ours(&n.name) {
            w.nodes.push(n.clone());
        }
    }
    w.bridges = full
        .bridges
        .iter()
        .filter(|b| !(b.node == HOST_NODE && docker_bridges.contains(&b.name.as_str())))
        .cloned()
        .collect();
    w.links = full
        .links
        .iter()
        .filter(|l| ours(&l.a.node) && ours(&l.b.node))
        .cloned()
        .collect();
    w.addresses = full
        .addresses
        .iter()
        .filter(|a| ours(&a.node))
        .cloned()
        .collect();
    w.routes = full
        .routes
        .iter()
        .filter(|r| ours(&r.node))
        .cloned()
        .collect();
    w
}

/// dockerd's flags for the file's `[daemon]`.
fn daemon_args(model: &DockerHost) -> Vec<String> {
    let d = model.daemon();
    let mut args = Vec::new();
    for (on, flag) in [
        (d.icc, "--icc=false"),
        (d.ip_masq, "--ip-masq=false"),
        (d.userland_proxy, "--userland-proxy=false"),
        (d.ip_forward, "--ip-forward=false"),
    ] {
        if !on {
            args.push(flag.to_string());
        }
    }
    if d.ip_forward_no_drop {
        args.push("--ip-forward-no-drop".into());
    }
    if d.allow_direct_routing {
        args.push("--allow-direct-routing".into());
    }
    if let Some(n) = model.networks().iter().find(|n| n.is_default) {
        let bip = n.gateway_cidr();
        if bip != DEFAULT_BIP {
            args.push(format!("--bip={bip}"));
        }
        if let Some(sub) = n.subnet_v6 {
            args.push("--ipv6".into());
            args.push(format!("--fixed-cidr-v6={sub}"));
        }
    }
    if let Some(on) = d.ip6tables {
        args.push(format!("--ip6tables={on}"));
    }
    args
}

/// The file's networks and containers, created in the file's order.
fn replay(daemon: &RealDaemon, model: &DockerHost) -> Result<()> {
    for e in model.events() {
        match e {
            Event::CreateNetwork(name) => {
                let Some(n) = model.network(name) else {
                    continue;
                };
                let mut a: Vec<String> = vec![
                    "network".into(),
                    "create".into(),
                    format!("--subnet={}", n.subnet),
                    format!("--gateway={}", n.gateway),
                ];
                if n.internal {
                    a.push("--internal".into());
                }
                if let (Some(sub), Some(gw)) = (n.subnet_v6, n.gateway_v6) {
                    a.push("--ipv6".into());
                    a.push(format!("--subnet={sub}"));
                    a.push(format!("--gateway={gw}"));
                }
                let mut opt = |k: &str, v: String| {
                    a.push("-o".into());
                    a.push(format!("com.docker.network.{k}={v}"));
                };
                if !n.bridge.starts_with("br-") {
                    opt("bridge.name", n.bridge.clone());
                }
                if !n.icc {
                    opt("bridge.enable_icc", "false".into());
                }
                if !n.ip_masq {
                    opt("bridge.enable_ip_masquerade", "false".into());
                }
                if let Some(ip) = n.host_binding {
                    opt("bridge.host_binding_ipv4", ip.to_string());
                }
                if let Some(ip) = n.host_ipv4 {
                    opt("host_ipv4", ip.to_string());
                }
                if let Some(ip) = n.host_ipv6 {
                    opt("host_ipv6", ip.to_string());
                }
                for (key, mode) in [
                    ("bridge.gateway_mode_ipv4", n.gateway_mode),
                    ("bridge.gateway_mode_ipv6", n.gateway_mode_v6),
                ] {
                    if mode != GatewayMode::Nat {
                        opt(key, mode.to_string());
                    }
                }
                a.push(name.clone());
                daemon.docker(&a)?;
            }
            Event::StartContainer(name) => run_container(daemon, model, name)?,
            Event::RestartDaemon | Event::StartExisting(_) => {}
        }
    }
    Ok(())
}

/// `docker run` of container `name` as the file gives it, then `docker
/// network connect` for each further network.
fn run_container(daemon: &RealDaemon, model: &DockerHost, name: &str) -> Result<()> {
    let Some(c) = model.container(name) else {
        return Ok(());
    };
    let mut a: Vec<String> = vec!["run".into(), "-d".into(), format!("--name={name}")];
    let ip_of = |network: &str, ip: std::net::Ipv4Addr| -> Option<String> {
        // The default bridge takes no --ip: its addresses come in run order.
        model
            .network(network)
            .filter(|n| !n.is_default)
            .map(|_| format!("--ip={ip}"))
    };
    let attachments = c.attachments();
    match &c.networking {
        Networking::Bridge(att) => {
            let first = &att[0];
            a.push(format!("--network={}", first.network));
            a.extend(ip_of(&first.network, first.ip));
            if model.network(&first.network).is_some_and(|n| !n.is_default)
                && let Some((ip6, _, _)) = first.ip6
            {
                a.push(format!("--ip6={ip6}"));
            }
        }
        Networking::Host => a.push("--network=host".into()),
        Networking::None => a.push("--network=none".into()),
        Networking::Container(owner) => a.push(format!("--network=container:{owner}")),
    }
    for p in &c.ports {
        let host = match p.host_ip {
            Some(std::net::IpAddr::V6(ip)) => format!("[{ip}]:"),
            Some(ip) => format!("{ip}:"),
            None => String::new(),
        };
        let port = if p.host_port == 0 {
            String::new()
        } else {
            p.host_port.to_string()
        };
        a.push("-p".into());
        a.push(format!(
            "{host}{port}:{}/{}",
            p.container_port,
            p.proto.as_str()
        ));
    }
    a.extend([IMAGE.into(), "sleep".into(), "2000000000".into()]);
    daemon.docker(&a)?;
    for more in attachments.iter().skip(1) {
        let mut c2: Vec<String> = vec!["network".into(), "connect".into()];
        c2.extend(ip_of(&more.network, more.ip));
        if model.network(&more.network).is_some_and(|n| !n.is_default)
            && let Some((ip6, _, _)) = more.ip6
        {
            c2.push(format!("--ip6={ip6}"));
        }
        c2.extend([more.network.clone(), name.to_string()]);
        daemon.docker(&c2)?;
    }
    Ok(())
}
