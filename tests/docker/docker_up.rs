//! What `DockerHost::up` guarantees when it returns, checked first thing,
//! with no wait: Docker's ruleset (and ip6tables skeleton) is loaded, every
//! published port is held (by a proxy, or by dockerd's reservation), Docker's
//! kernel settings are in place, and the links and addresses carry traffic —
//! for every layout and backend, userland proxy on and off. `up` loads the
//! rules while the links are built; these tests are what says the overlap
//! kept every guarantee.

use crate::common::host_lab::{HostLab as _, Up as _};
use std::net::TcpListener;
use std::time::Duration;

use netrig::docker::{ContainerSpec, DaemonOptions, DockerHost, Layout};
use netrig::testing::Test;
use netrig::{Backend, Result, TcpOutcome, unique_lab_name};

fn host(layout: Layout, backend: Backend, proxy: bool) -> Result<DockerHost> {
    DockerHost::builder()
        .name(unique_lab_name("up"))
        .layout(layout)
        .backend(backend)
        .daemon(DaemonOptions {
            userland_proxy: proxy,
            // The nftables backend never turns forwarding on itself.
            ip_forward_was_on: backend == Backend::Nftables,
            ..Default::default()
        })
        .container(ContainerSpec::new("web").publish("8080:80"))
        .build()
}

/// At return: rules loaded, the published port held, settings applied, and
/// a connection from the internet DNATed through to the container.
fn ready_at_return(layout: Layout, backend: Backend, proxy: bool) -> Result<()> {
    let model = host(layout, backend, proxy)?;
    let docker = model.up()?;
    let lab = docker.name().to_string();
    // 0. With iptables-nft and nftables `up` returns once the kernel has committed each
    // table, its restore tools reaped in the background (their exit status
    // checked by the next firewall operation, such as `rules()` below). So
    // first, before anything waits for them: every table of both rulesets
    // is in the kernel, listed at once over nfnetlink.
    // (The same with nftables: `nft -f` is one commit.)
    if backend != Backend::IptablesLegacy {
        let listed = kernel_tables(&docker.host_node()?)?.join("\n");
        let rendered = model.rendered();
        let named = |family: &'static str, text: &str| -> Vec<String> {
            (text.lines())
                .filter_map(|l| l.strip_prefix('*'))
                .map(|t| format!("table {family} {t}"))
                .collect()
        };
        let mut tables = if backend == Backend::Nftables {
            (rendered.rules.lines())
                .filter(|l| l.starts_with("table "))
                .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
                .collect()
        } else {
            named("ip", &rendered.rules)
        };
        tables.extend(named("ip6", rendered.rules6.as_deref().unwrap_or("")));
        assert!(!tables.is_empty(), "lab {lab}: no table rendered");
        for t in tables {
            assert!(
                listed.lines().any(|l| l.trim() == t),
                "lab {lab}: {t} not in the kernel when up() returned:\n{listed}"
            );
        }
    }
    // 1. Rules: the DNAT of the published port is in the kernel's ruleset now.
    let rules = docker.rules()?;
    assert!(
        rules.contains("8080") && (rules.contains("DNAT") || rules.contains("dnat to")),
        "lab {lab}: Docker's DNAT for 8080 not loaded when up() returned:\n{rules}"
    );
    let host_node = docker.host_node()?;
    if model.rendered().rules6.is_some() {
        let ip6_save = backend.save_argv()[1];
        let out = host_node
            .command(ip6_save[0])
            .args(&ip6_save[1..])
            .checked_output()?;
        let six = String::from_utf8_lossy(&out.stdout);
        assert!(
            six.contains(":DOCKER"),
            "lab {lab}: ip6tables skeleton not loaded when up() returned:\n{six}"
        );
    }
    // 2. The published port is held (docker-proxy, or dockerd's reservation).
    let taken = host_node.run(|| TcpListener::bind("0.0.0.0:8080"))?;
    assert!(
        taken.is_err(),
        "lab {lab}: 0.0.0.0:8080 free in node host when up() returned"
    );
    // 3. Kernel settings: created with the container, and Docker's on the bridge.
    let web = docker.container("web")?;
    assert_eq!(
        web.sysctl_get("net.ipv4.ip_unprivileged_port_start")?,
        "0",
        "lab {lab}"
    );
    if !proxy {
        assert_eq!(
            host_node.sysctl_get("net.ipv4.conf.docker0.route_localnet")?,
            "1",
            "lab {lab}: route_localnet on docker0"
        );
    }
    // 4. Links and addresses: from the internet through DNAT to the container.
    let _server = web.tcp_echo_server("0.0.0.0:80")?;
    let to = std::net::SocketAddr::new(docker.host_uplink_ip(), 8080);
    let outcome = docker.internet()?.tcp_connect(to, Duration::from_secs(2))?;
    assert!(
        matches!(outcome, TcpOutcome::Connected(_)),
        "lab {lab}: internet -> {to}: {outcome:?}"
    );
    Ok(())
}

/// The nf_tables tables of `node`'s namespace ("table ip nat", …), read
/// at once by a thread inside it with one nfnetlink dump: no program to
/// start, nothing netrig holds waited for (a save tool would first wait a
/// grace period of its own, long enough to hide a late commit).
fn kernel_tables(node: &netrig::Node) -> Result<Vec<String>> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let dump = || -> std::io::Result<Vec<String>> {
        // SAFETY: plain socket(2) (NETLINK_NETFILTER = 12); owned at once.
        let raw =
            unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 12) };
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a fresh fd nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // nlmsghdr: NFT_MSG_GETTABLE of subsystem nf_tables (10 << 8 | 1),
        // REQUEST | DUMP; nfgenmsg: every family.
        let mut req = Vec::new();
        req.extend_from_slice(&20u32.to_ne_bytes());
        req.extend_from_slice(&(10u16 << 8 | 1).to_ne_bytes());
        req.extend_from_slice(&0x301u16.to_ne_bytes());
        req.extend_from_slice(&[0; 12]);
        // SAFETY: send(2) of a buffer we own.
        if unsafe { libc::send(fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut tables = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // SAFETY: recv(2) into a buffer we own.
            let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n <= 0 {
                return Err(std::io::Error::last_os_error());
            }
            let msgs = &buf[..n as usize];
            let mut at = 0;
            while at + 16 <= msgs.len() {
                let len = u32::from_ne_bytes(msgs[at..at + 4].try_into().unwrap()) as usize;
                match u16::from_ne_bytes([msgs[at + 4], msgs[at + 5]]) {
                    3 => return Ok(tables), // NLMSG_DONE
                    2 => return Err(std::io::Error::other("nfnetlink refused the dump")),
                    _ if len < 24 || at + len > msgs.len() => {
                        return Err(std::io::Error::other("a truncated nfnetlink message"));
                    }
                    _ => {}
                }
                let family = match i32::from(msgs[at + 16]) {
                    libc::AF_INET => "ip",
                    libc::AF_INET6 => "ip6",
                    1 => "inet",
                    _ => "other",
                };
                // NFTA_TABLE_NAME, the first attribute.
                let alen = u16::from_ne_bytes([msgs[at + 20], msgs[at + 21]]) as usize;
                let name = &msgs[at + 24..at + 20 + alen];
                let name =
                    String::from_utf8_lossy(name.split(|b| *b == 0).next().unwrap_or_default());
                tables.push(format!("table {family} {name}"));
                at += len.div_ceil(4) * 4;
            }
        }
    };
    Ok(node.run(dump)?.expect("an nf_tables table dump"))
}

/// This module's tests: `ready_at_return` for every layout, backend and proxy setting.
pub fn tests() -> Vec<Test> {
    let combos = [
        (Layout::Classic, Backend::IptablesNft),
        (Layout::Classic, Backend::IptablesLegacy),
        (Layout::V28, Backend::IptablesNft),
        (Layout::V28, Backend::IptablesLegacy),
        (Layout::V29, Backend::IptablesNft),
        (Layout::V29, Backend::IptablesLegacy),
        (Layout::V29, Backend::Nftables),
    ];
    let mut tests = Vec::new();
    for (layout, backend) in combos {
        for proxy in [true, false] {
            let name = format!(
                "ready_at_return::{layout}::{backend}::proxy_{}",
                if proxy { "on" } else { "off" }
            );
            tests.push(Test::lab(name, move || {
                ready_at_return(layout, backend, proxy)
            }));
        }
    }
    tests
}
