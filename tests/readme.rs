//! The README's example, verbatim, so the README stays true.

use netrig::expect::udp;
use std::time::Duration;

/// Outbound traffic from a container is masqueraded to the host's uplink address.
#[test]
fn outbound_traffic_is_masqueraded() -> netrig::Result<()> {
    if !netrig::privilege::should_run("outbound_traffic_is_masqueraded")? {
        return Ok(()); // prints "SKIPPED … not privileged"; fails instead when CI=true
    }
    let docker = netrig::topology::load("topologies/docker-bridge.toml")?.up()?;
    let server = docker.internet()?.udp_echo_server("198.51.100.10:53")?; // bound before return
    let wan = docker.node("internet")?.capture("eth0")?; // active before return
    docker
        .container("web")?
        .udp_send("198.51.100.10:53", b"q")?;
    wan.expect(udp().src(docker.host_uplink_ip()).dst("198.51.100.10:53"))
        .within(Duration::from_secs(1))?;
    assert_eq!(
        server.wait_for_datagrams(1, Duration::from_secs(1))?[0]
            .from
            .ip(),
        docker.host_uplink_ip()
    );
    Ok(())
}

/// The README shows this file's example as it is (so neither drifts).
#[test]
fn readme_shows_this_example() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let this = std::fs::read_to_string(format!("{root}/tests/readme.rs")).unwrap();
    let start = readme.find("```rust\n").expect("a rust block in README.md") + 8;
    let shown = &readme[start..start + readme[start..].find("```").unwrap()];
    let example = &this[this.find("use netrig::expect::udp;").unwrap()
        ..this.find("\n/// The README shows").unwrap()];
    assert_eq!(
        shown.trim(),
        example.trim(),
        "README.md's example differs from tests/readme.rs"
    );
}
