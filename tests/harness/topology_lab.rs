//! Generic labs from topology files, brought up and proved on captured
//! packets and counters: the gateway example (masquerade + a drop), rule
//! files in order, programs in their node, tbf rate limits, netem detection.

use std::net::SocketAddr;
use std::time::Duration;

use netrig::expect::{tcp, udp};
use netrig::{Backend, Endpoint, Lab, Result, Sentinel, TcpOutcome};

const SECOND: Duration = Duration::from_secs(1);

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

/// topologies/gateway-nft.toml: a LAN client's UDP leaves the WAN side with
/// the gateway's address, and the masquerade rule counted it.
fn gateway_masquerades_lan_traffic() -> Result<()> {
    let lab = netrig::topology::load("topologies/gateway-nft.toml")?.up()?;
    let lan = lab.node("gw")?.capture("lan0")?;
    let wan = lab.node("wan")?.capture("eth0")?;
    lab.node("client")?.udp_send("198.51.100.10:53", b"q")?;
    lan.expect(udp().src("10.10.0.2").dst("198.51.100.10:53"))
        .within(SECOND)?;
    wan.expect(udp().src("198.51.100.1").dst("198.51.100.10:53"))
        .within(SECOND)?;
    let server = lab.udp_server("wan", addr("198.51.100.10:53"))?;
    let got = server.wait_for_datagrams(1, SECOND)?;
    assert_eq!(got[0].from.ip().to_string(), "198.51.100.1");
    let counters = lab.node("gw")?.counters(Backend::Nftables)?;
    let masq = counters
        .rule("inet gateway", "postrouting", "masquerade")
        .expect("the masquerade rule");
    assert!(masq.packets >= 1, "{masq:?}");
    Ok(())
}

/// topologies/gateway-nft.toml: telnet from the LAN is dropped at the
/// gateway (counter, and nothing on the WAN before a sentinel), while TCP 80
/// gets through.
fn gateway_drops_telnet_from_lan() -> Result<()> {
    let lab = netrig::topology::load("topologies/gateway-nft.toml")?.up()?;
    let client = lab.node("client")?;
    let wan = lab.node("wan")?.capture("eth0")?;
    let out = client.tcp_connect("198.51.100.10:23", Duration::from_millis(300))?;
    assert_eq!(out, TcpOutcome::NoAnswer);
    wan.expect_none(
        tcp().dst_port(23),
        Sentinel::udp(&client, "198.51.100.10:53"),
    )
    .within(SECOND)?;
    let counters = lab.node("gw")?.counters(Backend::Nftables)?;
    let drop = counters
        .rule("inet gateway", "forward", "tcp dport 23")
        .expect("the drop rule");
    assert!(drop.packets >= 1, "{drop:?}");
    assert!(
        lab.tcp_server("wan", addr("198.51.100.10:23"))?
            .peers()
            .is_empty()
    );
    assert!(matches!(
        client.tcp_connect("198.51.100.10:80", SECOND)?,
        TcpOutcome::Connected(_)
    ));
    wan.expect(tcp().src("198.51.100.1").dst("198.51.100.10:80"))
        .within(SECOND)?;
    Ok(())
}

/// Two iptables fragments on one node load in file order: the second jumps
/// to a chain the first created, and the saved ruleset shows them in order.
fn rule_files_load_in_order() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = dir.path().join("10-chain.rules");
    let second = dir.path().join("20-jump.rules");
    std::fs::write(
        &first,
        "*filter\n:SENTRY - [0:0]\n-A SENTRY -p udp --dport 9 -j DROP\nCOMMIT\n",
    )
    .expect("write");
    std::fs::write(&second, "*filter\n-A INPUT -j SENTRY\nCOMMIT\n").expect("write");
    let text = format!(
        "[[node]]\nname = \"a\"\nrules = [{:?}, {:?}]\n[[node]]\nname = \"b\"\n[[link]]\n\
         a = {{ node = \"a\", ifname = \"eth0\", addresses = [\"10.0.0.1/24\"] }}\n\
         b = {{ node = \"b\", ifname = \"eth0\", addresses = [\"10.0.0.2/24\"] }}\n",
        first.display().to_string(),
        second.display().to_string()
    );
    let lab = netrig::topology::parse(&text, dir.path().join("ordered.toml"))?.up()?;
    let a = lab.node("a")?;
    let cap = a.capture("eth0")?;
    lab.node("b")?.udp_send("10.0.0.1:9", b"x")?;
    cap.expect(udp().dst("10.0.0.1:9")).within(SECOND)?;
    let counters = a.counters(Backend::IptablesNft)?;
    let drop = counters
        .rule("filter", "SENTRY", "--dport 9")
        .expect("the first file's rule");
    assert_eq!(drop.packets, 1, "{drop:?}");
    Ok(())
}

/// A program from the file runs inside its node's namespace.
fn programs_run_in_their_node() -> Result<()> {
    let text = "[[node]]\nname = \"a\"\nprograms = [[\"sleep\", \"600\"]]\n";
    let lab = netrig::topology::parse(text, "programs.toml")?.up()?;
    // The processes in node a's namespace, by command line: the program is one.
    let netns = format!("net:[{}]", crate::common::inode(&lab.node("a")?));
    let in_node: Vec<String> = (std::fs::read_dir("/proc").expect("/proc").flatten())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/ns/net"))
                .is_ok_and(|ns| ns.to_string_lossy() == netns)
        })
        .filter_map(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
        .map(|c| {
            String::from_utf8_lossy(&c)
                .replace('\0', " ")
                .trim()
                .to_string()
        })
        .collect();
    assert!(in_node.iter().any(|c| c == "sleep 600"), "{in_node:?}");
    Ok(())
}

/// A link with `rate` gets a tbf qdisc that drops what exceeds it (tc's
/// own counters), built here in code to exercise the same path as a file.
fn rate_limit_is_a_tbf_that_drops_the_excess() -> Result<()> {
    let spec = Lab::builder("tbf").node("a").node("b").link(
        Endpoint {
            rate: Some("1mbit".into()),
            ..Endpoint::new("a", "eth0").addr("10.0.0.1/24")
        },
        Endpoint::new("b", "eth0").addr("10.0.0.2/24"),
    );
    let lab = spec.up()?;
    let a = lab.node("a")?;
    let payload = [0u8; 1200];
    for _ in 0..300 {
        a.udp_send("10.0.0.2:9", &payload)?;
    }
    let out = a
        .command("tc")
        .args(["-s", "qdisc", "show", "dev", "eth0"])
        .checked_output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("qdisc tbf") && text.contains("rate 1Mbit"),
        "{text}"
    );
    let dropped: u64 = text
        .split("dropped ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .expect("tc -s prints dropped");
    assert!(
        dropped > 0,
        "300 × 1200 bytes at once through 1 Mbit/s dropped nothing:\n{text}"
    );
    Ok(())
}

/// `delay` on a link needs netem: on a kernel without it (this machine
/// kind) `up` fails saying so and naming the link; with it, the qdisc is there.
fn netem_is_detected() -> Result<()> {
    let text = "[[node]]\nname = \"a\"\n[[node]]\nname = \"b\"\n[[link]]\ndelay = \"20ms\"\n\
                a = { node = \"a\", ifname = \"eth0\" }\nb = { node = \"b\", ifname = \"eth0\" }\n";
    match netrig::topology::parse(text, "netem.toml")?.up() {
        Err(e) => {
            let m = e.to_string();
            assert!(
                m.contains("netem is not available") && m.contains("eth0"),
                "{m}"
            );
        }
        Ok(lab) => {
            let out = lab
                .node("a")?
                .command("tc")
                .args(["qdisc", "show", "dev", "eth0"])
                .checked_output()?;
            let t = String::from_utf8_lossy(&out.stdout);
            assert!(t.contains("netem") && t.contains("delay 20"), "{t}");
        }
    }
    Ok(())
}

/// This module's tests, each holding `common::shared()` (see `shared_labs!`).
pub fn tests() -> Vec<netrig::testing::Test> {
    shared_labs![
        gateway_masquerades_lan_traffic,
        gateway_drops_telnet_from_lan,
        rule_files_load_in_order,
        programs_run_in_their_node,
        rate_limit_is_a_tbf_that_drops_the_excess,
        netem_is_detected,
    ]
}
