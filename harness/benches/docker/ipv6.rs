//! IPv6 on against IPv6 off, in the same run: `topologies/docker-ipv6.toml`
//! (dual stack: docker0 with `fixed_cidr_v6`, two `--ipv6` networks, three
//! containers, IPv6 ports and ip6tables rules) brought up and dropped,
//! against the same file with every IPv6 key removed (the same networks,
//! containers and IPv4 ports), per layout, reps interleaved.

use std::time::{Duration, Instant};

use crate::witness::Witness;
use netrig::LabSpec;
use netrig::docker::DockerHost;

use super::{HOST_NODE, median, wait_witness};

const FILE: &str = "topologies/docker-ipv6.toml";

/// The file's Docker host under `layout`, with IPv6 (`v6`) or without.
fn host(layout: &str, v6: bool) -> DockerHost {
    let mut text = std::fs::read_to_string(FILE)
        .expect("topologies/docker-ipv6.toml")
        .replace("layout = \"v28\"", &format!("layout = \"{layout}\""));
    if !v6 {
        text = text
            .lines()
            .filter(|l| {
                !(l.starts_with("ipv6 =")
                    || l.starts_with("fixed_cidr_v6")
                    || l.starts_with("subnet_v6"))
            })
            .map(|l| format!("{}\n", l.replace(", \"[::1]:8081:80\"", "")))
            .collect();
    }
    let spec = netrig::topology::parse(&text, FILE).expect("the file parses");
    let h = spec.docker_host("host").expect("a Docker host").clone();
    assert_eq!(h.networks().iter().any(|n| n.subnet_v6.is_some()), v6);
    h
}

fn once(host: &DockerHost, witness: &mut Witness) -> Duration {
    let t = Instant::now();
    let lab = LabSpec::from(host.clone()).up().expect("docker up");
    let up = t.elapsed();
    witness
        .attach(&lab.node(HOST_NODE).unwrap(), "tow", "wit")
        .expect("witness link");
    let t = Instant::now();
    drop(lab);
    let down = t.elapsed();
    wait_witness(witness);
    up + down
}

/// Prints, per layout, the medians of up + drop with IPv6 and without, and
/// their ratio.
pub fn report(reps: usize, witness: &mut Witness) {
    println!(
        "\nIPv6 on vs off ({FILE}; off = the same file without its IPv6 keys), up + drop, median of {reps}"
    );
    println!(
        "{:<8} {:>10} {:>10} {:>8}",
        "layout", "ipv6 ms", "ipv4 ms", "ratio"
    );
    for layout in ["classic", "v28", "v29"] {
        let (six, four) = (host(layout, true), host(layout, false));
        once(&six, witness);
        once(&four, witness);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..reps {
            a.push(once(&six, witness));
            b.push(once(&four, witness));
        }
        let (a, b) = (median(a), median(b));
        println!(
            "{layout:<8} {:>10.1} {:>10.1} {:>7.2}x",
            a.as_secs_f64() * 1e3,
            b.as_secs_f64() * 1e3,
            a.as_secs_f64() / b.as_secs_f64()
        );
    }
}
