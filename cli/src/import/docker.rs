//! Docker's JSON (`docker inspect`, `docker network inspect`, `docker info`)
//! to the networks, containers and daemon options of a Docker host file.

use serde_json::Value;

/// A user (or the default) bridge network.
#[derive(Debug, Clone, Default)]
pub(crate) struct Net {
    pub(crate) name: String,
    pub(crate) id: String,
    pub(crate) default: bool,
    pub(crate) bridge: Option<String>,
    pub(crate) subnet: Option<String>,
    pub(crate) gateway: Option<String>,
    pub(crate) icc: bool,
    pub(crate) ip_masq: bool,
    pub(crate) internal: bool,
    pub(crate) host_binding: Option<String>,
    pub(crate) gateway_mode: Option<String>,
    pub(crate) created: String,
    /// Containers on it by `docker network inspect`: (name, address).
    pub(crate) members: Vec<(String, String)>,
}

/// A container's network mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mode {
    /// On these networks, with these addresses (network, ip).
    Bridge(Vec<(String, String)>),
    Host,
    None,
    /// `container:NAME`.
    Container(String),
}

/// A running container.
#[derive(Debug, Clone)]
pub(crate) struct Ctr {
    pub(crate) name: String,
    pub(crate) mode: Mode,
    pub(crate) ports: Vec<String>,
    pub(crate) created: String,
}

/// What the JSON said.
#[derive(Debug, Default)]
pub(crate) struct Docker {
    pub(crate) version: Option<String>,
    pub(crate) networks: Vec<Net>,
    pub(crate) containers: Vec<Ctr>,
    /// Things seen but not rebuilt, said in the report.
    pub(crate) notes: Vec<String>,
}

/// Whether `v` is `docker inspect` output (containers).
pub(crate) fn is_container_inspect(v: &Value) -> bool {
    v.as_array().is_some_and(|a| {
        !a.is_empty()
            && a.iter().all(|c| {
                c.get("Id").is_some() && c.get("HostConfig").is_some() && c.get("State").is_some()
            })
    })
}

/// Whether `v` is `docker network inspect` output.
pub(crate) fn is_network_inspect(v: &Value) -> bool {
    v.as_array().is_some_and(|a| {
        !a.is_empty()
            && a.iter().all(|n| {
                n.get("Id").is_some() && n.get("Driver").is_some() && n.get("IPAM").is_some()
            })
    })
}

/// Whether `v` is `docker info --format '{{json .}}'` output.
pub(crate) fn is_info(v: &Value) -> bool {
    v.get("ServerVersion").is_some() && v.get("Containers").is_some()
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn opt_true(opts: &Value, key: &str) -> bool {
    opts.get(key).and_then(Value::as_str) != Some("false")
}

impl Docker {
    /// Adds `docker info`.
    pub(crate) fn info(&mut self, v: &Value) {
        self.version = v["ServerVersion"].as_str().map(str::to_string);
    }

    /// Adds `docker network inspect` (an array of networks).
    pub(crate) fn networks(&mut self, v: &Value) {
        for n in v.as_array().into_iter().flatten() {
            let name = s(&n["Name"]);
            let driver = s(&n["Driver"]);
            if driver != "bridge" {
                if driver != "host" && driver != "null" {
                    self.notes.push(format!(
                        "network {name} (driver {driver}) is not rebuilt: netrig builds bridge networks"
                    ));
                }
                // host/none members are containers in those modes.
                for (_, m) in n["Containers"].as_object().into_iter().flatten() {
                    let cname = s(&m["Name"]);
                    if !self.containers.iter().any(|c| c.name == cname) {
                        self.containers.push(Ctr {
                            name: cname,
                            mode: if driver == "host" {
                                Mode::Host
                            } else {
                                Mode::None
                            },
                            ports: Vec::new(),
                            created: String::new(),
                        });
                    }
                }
                continue;
            }
            let opts = &n["Options"];
            let cfg = n["IPAM"]["Config"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["Subnet"].as_str().is_some_and(|x| !x.contains(':')));
            let default = opts["com.docker.network.bridge.default_bridge"].as_str() == Some("true");
            if let Some(mtu) = opts["com.docker.network.driver.mtu"].as_str()
                && mtu != "1500"
            {
                self.notes.push(format!(
                    "network {name}: MTU {mtu} is not rebuilt (netrig's bridges use 1500)"
                ));
            }
            let mut members: Vec<(String, String)> = n["Containers"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(_, m)| {
                    let ip = s(&m["IPv4Address"]);
                    (
                        s(&m["Name"]),
                        ip.split('/').next().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            members.sort_by_key(|(_, ip)| ip.parse::<std::net::Ipv4Addr>().ok());
            self.networks.push(Net {
                name: name.clone(),
                id: s(&n["Id"]),
                default,
                bridge: opts["com.docker.network.bridge.name"]
                    .as_str()
                    .map(str::to_string),
                subnet: cfg.and_then(|c| c["Subnet"].as_str()).map(str::to_string),
                gateway: cfg.and_then(|c| c["Gateway"].as_str()).map(str::to_string),
                icc: opt_true(opts, "com.docker.network.bridge.enable_icc"),
                ip_masq: opt_true(opts, "com.docker.network.bridge.enable_ip_masquerade"),
                internal: n["Internal"].as_bool().unwrap_or(false),
                host_binding: opts["com.docker.network.bridge.host_binding_ipv4"]
                    .as_str()
                    .filter(|h| *h != "0.0.0.0")
                    .map(str::to_string),
                gateway_mode: opts["com.docker.network.bridge.gateway_mode_ipv4"]
                    .as_str()
                    .map(str::to_string),
                created: s(&n["Created"]),
                members,
            });
        }
    }

    /// Adds `docker inspect` of containers (an array); stopped ones are
    /// noted, not rebuilt.
    pub(crate) fn containers(&mut self, v: &Value) {
        let all = v.as_array().cloned().unwrap_or_default();
        let name_of = |id: &str| {
            all.iter()
                .find(|c| {
                    s(&c["Id"]).starts_with(id) || s(&c["Name"]).trim_start_matches('/') == id
                })
                .map(|c| s(&c["Name"]).trim_start_matches('/').to_string())
        };
        for c in &all {
            let name = s(&c["Name"]).trim_start_matches('/').to_string();
            if c["State"]["Running"].as_bool() != Some(true) {
                self.notes
                    .push(format!("container {name} is not running: not rebuilt"));
                continue;
            }
            let mode_s = s(&c["HostConfig"]["NetworkMode"]);
            let mode = match mode_s.as_str() {
                "host" => Mode::Host,
                "none" => Mode::None,
                m if m.starts_with("container:") => {
                    let target = &m["container:".len()..];
                    Mode::Container(name_of(target).unwrap_or_else(|| target.to_string()))
                }
                _ => {
                    let mut nets: Vec<(String, String)> = c["NetworkSettings"]["Networks"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(net, e)| (net.clone(), s(&e["IPAddress"])))
                        .collect();
                    // The mode's own network first (docker lists them by name).
                    let first = if mode_s == "default" {
                        "bridge"
                    } else {
                        mode_s.as_str()
                    };
                    nets.sort_by_key(|(n, _)| n != first);
                    Mode::Bridge(nets)
                }
            };
            let mut ports = Vec::new();
            let mut bindings: Vec<(&String, &Value)> = c["HostConfig"]["PortBindings"]
                .as_object()
                .into_iter()
                .flatten()
                .collect();
            bindings.sort_by_key(|(k, _)| (*k).clone());
            for (cport, list) in bindings {
                let (port, proto) = cport.split_once('/').unwrap_or((cport, "tcp"));
                for b in list.as_array().into_iter().flatten() {
                    let host_ip = s(&b["HostIp"]);
                    let host_port = s(&b["HostPort"]);
                    let host_port = if host_port.is_empty() {
                        port.to_string()
                    } else {
                        host_port
                    };
                    let mut p = match host_ip.as_str() {
                        "" | "0.0.0.0" => format!("{host_port}:{port}"),
                        ip if ip.contains(':') => {
                            self.notes.push(format!(
                                "container {name}: IPv6 binding [{ip}]:{host_port} not rebuilt"
                            ));
                            continue;
                        }
                        ip => format!("{ip}:{host_port}:{port}"),
                    };
                    if proto != "tcp" {
                        p.push_str(&format!("/{proto}"));
                    }
                    ports.push(p);
                }
            }
            let ctr = Ctr {
                name: name.clone(),
                mode,
                ports,
                created: s(&c["Created"]),
            };
            match self.containers.iter_mut().find(|x| x.name == name) {
                Some(x) => *x = ctr,
                None => self.containers.push(ctr),
            }
        }
    }

    /// Fills in what only one of the JSON kinds had: networks seen only in
    /// containers' settings, containers seen only as network members
    /// (placed by address), and ports from the DNAT rules when no
    /// `docker inspect` said them.
    pub(crate) fn complete(&mut self, had_inspect: bool, rules: Option<&str>) {
        if !had_inspect {
            for n in &self.networks {
                for (cname, ip) in &n.members {
                    match self.containers.iter_mut().find(|c| &c.name == cname) {
                        Some(Ctr {
                            mode: Mode::Bridge(v),
                            ..
                        }) => v.push((n.name.clone(), ip.clone())),
                        Some(_) => {}
                        None => self.containers.push(Ctr {
                            name: cname.clone(),
                            mode: Mode::Bridge(vec![(n.name.clone(), ip.clone())]),
                            ports: Vec::new(),
                            created: n.created.clone(),
                        }),
                    }
                }
            }
            if let Some(rules) = rules {
                self.ports_from_dnat(rules);
            }
        }
    }

    /// `-j DNAT --to-destination IP:PORT` rules of the nat DOCKER chain as
    /// published ports of the container with that address.
    fn ports_from_dnat(&mut self, rules: &str) {
        for l in rules
            .lines()
            .filter(|l| l.starts_with("-A DOCKER ") && l.contains("-j DNAT"))
        {
            let w: Vec<&str> = l.split_whitespace().collect();
            let after = |flag: &str| {
                w.iter()
                    .position(|x| *x == flag)
                    .and_then(|i| w.get(i + 1))
                    .copied()
            };
            let (Some(proto), Some(hport), Some(to)) =
                (after("-p"), after("--dport"), after("--to-destination"))
            else {
                continue;
            };
            let Some((ip, cport)) = to.rsplit_once(':') else {
                continue;
            };
            let host_ip = after("-d").map(|d| d.trim_end_matches("/32"));
            let mut p = match host_ip {
                Some(h) => format!("{h}:{hport}:{cport}"),
                None => format!("{hport}:{cport}"),
            };
            if proto != "tcp" {
                p.push_str(&format!("/{proto}"));
            }
            if let Some(c) = self.containers.iter_mut().find(|c| match &c.mode {
                Mode::Bridge(v) => v.iter().any(|(_, a)| a == ip),
                _ => false,
            }) {
                self.notes.push(format!(
                    "container {}: port {p} read from the DNAT rule (no docker inspect)",
                    c.name
                ));
                c.ports.push(p);
            }
        }
    }
}

/// An RFC 3339 time as a sortable key (fractions padded to nanoseconds).
pub(crate) fn time_key(t: &str) -> String {
    match t.split_once('.') {
        Some((secs, rest)) => {
            let frac: String = rest.chars().take_while(char::is_ascii_digit).collect();
            format!("{secs}.{frac:0<9}")
        }
        None => t.trim_end_matches('Z').to_string(),
    }
}
