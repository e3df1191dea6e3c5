//! Network vocabulary shared by every layer, with no system calls: MAC
//! addresses, transport protocols, CIDR parsing, and the kernel's rules for
//! lab, node and interface names (checked before anything is built).

use std::net::IpAddr;

use ipnet::IpNet;

/// A MAC address.
pub type Mac = [u8; 6];

/// Formats a MAC as `02:00:00:00:00:01`.
pub(crate) fn fmt_mac(mac: &Mac) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Transport protocol of a forwarded (or published) port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Proto {
    /// TCP (the default).
    #[default]
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// `tcp` or `udp`, as iptables and docker-proxy spell it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kernel's limit on interface names, in bytes (IFNAMSIZ - 1).
pub const IFNAME_MAX: usize = 15;

/// Checks an interface name the way the kernel will (`dev_valid_name`).
pub fn check_ifname(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("is empty".into());
    }
    if name.len() > IFNAME_MAX {
        return Err(format!(
            "{name:?} is {} bytes long; the kernel allows at most {IFNAME_MAX}",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Err(format!("{name:?} is not allowed"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| *c == '/' || *c == ':' || c.is_whitespace())
    {
        return Err(format!(
            "{name:?} contains {c:?}, which interface names cannot hold"
        ));
    }
    Ok(())
}

/// Checks a lab or node name: 1–64 of `[A-Za-z0-9_.-]`, starting with a
/// letter or digit (as Docker's container names do; a leading `-` would read
/// as an option in every command line the name ends up in).
pub fn check_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err(format!("{name:?} must be 1 to 64 characters"));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!("{name:?} must start with a letter or digit"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_.-".contains(*c)))
    {
        return Err(format!(
            "{name:?} contains {c:?}; use letters, digits, '_', '.' and '-'"
        ));
    }
    Ok(())
}

/// Parses `10.0.0.1/24`; a bare address is refused (the prefix matters).
pub fn parse_cidr(s: &str) -> std::result::Result<IpNet, String> {
    s.trim().parse::<IpNet>().map_err(|_| {
        if s.trim().parse::<IpAddr>().is_ok() {
            format!("{s:?} has no prefix length (write e.g. {s}/24)")
        } else {
            format!("{s:?} is not an address with prefix length like 10.0.0.1/24")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A MAC prints as six lower-case hex pairs.
    #[test]
    fn macs_print_as_hex_pairs() {
        assert_eq!(fmt_mac(&[2, 0, 0, 0, 0, 0xab]), "02:00:00:00:00:ab");
    }

    #[test]
    fn interface_names_as_the_kernel_checks_them() {
        assert!(check_ifname("eth0").is_ok());
        assert!(
            check_ifname("a-very-long-name0")
                .unwrap_err()
                .contains("15")
        );
        assert!(check_ifname("a/b").is_err());
    }

    #[test]
    fn names_start_with_a_letter_or_digit() {
        assert!(check_name("web-1").is_ok());
        assert!(
            check_name("-x")
                .unwrap_err()
                .contains("start with a letter or digit")
        );
        assert!(check_name("").is_err());
    }
}
