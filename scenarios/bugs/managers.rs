//! The firewall managers users type into, run for real on the Docker host:
//! Debian's ufw confined to the host's node (topologies/docker-ufw-real.toml),
//! its commands as the owner typed them.

use netrig::docker::Layout;
use netrig::reach::{Cell, Matrix, Outcome};
use netrig::{Backend, Result};

use crate::matrix::Variant;
use crate::support::ensure;

/// The cells ufw runs on: an iptables-nft host (ufw's `iptables` is iptables-nft on Debian).
pub const UFW: &[Variant] = &[
    Variant::new(Layout::Classic, Backend::IptablesNft),
    Variant::new(Layout::V28, Backend::IptablesNft),
    Variant::new(Layout::V29, Backend::IptablesNft),
];

/// topologies/docker-ufw-real.toml with its `[daemon]` table written for
/// cell `v` (its layout, backend and point release).
fn topology(v: &Variant, name: &str) -> Result<netrig::LabSpec> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/docker-ufw-real.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("topology {}: {e}", path.display()));
    let daemon = "[daemon]\nlayout = \"classic\"\nbackend = \"iptables-nft\"\n";
    assert!(
        text.contains(daemon),
        "{}: its [daemon] table changed; this scenario rewrites it",
        path.display()
    );
    let mut cell = format!(
        "[daemon]\nlayout = \"{}\"\nbackend = \"{}\"\n",
        v.layout, v.backend
    );
    if let Some(version) = v.version {
        cell.push_str(&format!("version = \"{version}\"\n"));
    }
    let mut spec = netrig::topology::parse(&text.replace(daemon, &cell), &path)?;
    spec.set_name(netrig::unique_lab_name(name));
    Ok(spec)
}

fn published() -> Cell {
    Cell::parse("internet", "203.0.113.2:8080/tcp").expect("cell")
}

fn fail(what: String) -> netrig::Error {
    netrig::Error::invalid(netrig::Subject::default(), "scenario", what)
}

/// `ufw deny 8080` does not close a published port (moby#4737): with the real ufw enabled before the daemon (`default deny incoming`, `allow 22/tcp`, `deny 8080`), the internet still reaches the container through 8080 — Docker's DNAT sends it through FORWARD, where Docker's own rules accept it before ufw's chains — while the rule `ufw deny 8080` made does drop the container's connection to the host's own 8080.
pub fn ufw_deny_leaves_published_port_open(v: &Variant) -> Result<()> {
    let lab = topology(v, "ufw-4737")?.up()?;
    let m = Matrix::probe(&lab)?;
    let row = m
        .row(&published())
        .ok_or_else(|| fail("no cell internet -> 8080".into()))?;
    let own = m
        .row(&Cell::parse("web", "172.17.0.1:8080/tcp")?)
        .ok_or_else(|| fail("no cell web -> host:8080".into()))?;
    let by_docker = row
        .why
        .first()
        .is_some_and(|w| w.chain.starts_with("DOCKER"));
    let by_ufw = own.why.first().and_then(|w| w.source.as_deref()) == Some("ufw deny 8080");
    ensure(
        &lab,
        row.outcome == Outcome::Delivered && by_docker && own.outcome == Outcome::Dropped && by_ufw,
        || {
            format!(
                "expected the published port delivered by Docker's rules and host:8080 dropped by `ufw deny 8080`:\n{}",
                m.render(netrig::reach::Format::Text)
            )
        },
    )
}

/// `ufw route deny` on the container's port closes the published port (moby#4737, chaifeng/ufw-docker) — once ufw's after.rules has the recipe's `-A DOCKER-USER -j ufw-user-forward`: the connection is dropped in ufw-user-forward by the rule `ufw route deny proto tcp from any to any port 80` made.
pub fn ufw_route_deny_closes_published_port(v: &Variant) -> Result<()> {
    let route =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/ufw/route-deny-80.txt");
    let lab = topology(v, "ufw-route")?.ufw_file("host", route)?.up()?;
    let m = Matrix::probe_cells(&lab, vec![published()], netrig::reach::DEFAULT_DEADLINE)?;
    let row = m
        .row(&published())
        .ok_or_else(|| fail("no cell internet -> 8080".into()))?;
    let named = row.why.first().is_some_and(|w| {
        w.chain == "ufw-user-forward"
            && w.source.as_deref() == Some("ufw route deny proto tcp from any to any port 80")
    });
    ensure(&lab, row.outcome == Outcome::Dropped && named, || {
        format!(
            "expected internet -> 8080 dropped by ufw's route rule:\n{}",
            m.render(netrig::reach::Format::Text)
        )
    })
}
