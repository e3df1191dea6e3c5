//! IPv6 Docker networks, pure: the topology keys, Docker's refusals, the
//! addresses, routes, sysctls, proxies and ip6tables rules rendered for
//! `topologies/docker-ipv6.toml` (issue 21).

use super::{DockerHost, KernelSetting, Layout};
use crate::backend::Backend;
use crate::topology::Overrides;

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/topologies/docker-ipv6.toml");

fn host(layout: Layout, backend: Backend) -> DockerHost {
    let o = Overrides {
        layout: Some(layout),
        backend: Some(backend),
    };
    let spec = crate::topology::load_with(FILE, &o).expect("docker-ipv6.toml loads");
    spec.docker_host("host").expect("a Docker host").clone()
}

#[test]
fn dump() {
    let h = host(Layout::V28, Backend::IptablesNft);
    let r = h.rendered();
    println!("{}", r.rules6.unwrap());
    for s in r.sysctls {
        println!("{s:?}");
    }
    for p in h.running().proxies() {
        println!("{p:?}");
    }
    println!("{:#?}", r.wiring.addresses);
    for l in &r.wiring.links {
        println!("{:?} {:?}", l.a.addrs, l.b.addrs);
    }
    println!("{:#?}", r.wiring.routes);
    let _ = KernelSetting::Hairpin {
        node: String::new(),
        port: String::new(),
    };
}
