//! Docker point releases ([`Version`]): which releases netrig emulates, the
//! [`Layout`] each belongs to, and what changed between the releases of one
//! layout that changes rules, sysctls, proxies or behaviour.
//!
//! The releases are moby's tags (`v20.10.0` … `v28.5.2`, `docker-v29.0.0` …
//! `docker-v29.7.2`, the newest in the snapshot read). A version without a
//! patch (`29.5`) is the newest patch of that minor release. Without a
//! version a host runs the newest release of its layout.
//!
//! Every difference modelled, with the moby change that made it (first tag
//! containing it, checked with `git tag --contains`):
//!
//! | since | moby change | what changes | where netrig models it |
//! |---|---|---|---|
//! | 28.2.2 | dc519a0f18 | no `-A DOCKER-USER -j RETURN` | `modern::render` (28.2.0–28.2.1 keep it) |
//! | 29.0.0 | #49981 | no `DOCKER-ISOLATION-STAGE-1/2`; internal networks in `DOCKER-INTERNAL`; no nat `DOCKER -i <br> -j RETURN` | layout V29 (`modern.rs`) |
//! | 29.0.0 | #50539 | the SCTP `mangle … -j CHECKSUM` rule and its opt-in are deleted | nothing to render: off by default since 28.0 (8be292a7bb), netrig never rendered it |
//! | 29.0.0 | #50140 | a `routed` network opens a container's published ports on every endpoint, gateway or not | [`Daemon::routed_ports_on_every_endpoint`] |
//! | 29.5.0 | #52423 | UDP conntrack flush at endpoint programming by container port + host address (was: host port) | [`conntrack_flushes`](super::conntrack_flushes) |
//! | 29.5.1 | df58acf56e | … without the address when it is unspecified (29.5.0 flushed nothing for `0.0.0.0`) | idem |
//! | 29.6.0 | #52818 | automatic host ports skip `net.ipv4.ip_local_reserved_ports` | [`Daemon::skips_reserved_ports`] (no automatic host ports in netrig: recorded, not rendered) |
//! | 29.6.0 | #52803 | overlay encryption in nftables table `docker-overlay` | not modelled: netrig has no overlay networks |
//! | 29.7.0 | #52984 | the `nft -f` templates moved to files (`reload.nft.gotmpl`); 29.7.2 (ea57cdf1c7) ends base-chain declarations with `;` | [`NftRuleset::apply_script`](super::NftRuleset) |
//!
//! Within `classic` (20.10–27.x) the releases are not told apart: the
//! layout is proved against 20.10.24, and 27.x's differences (ip6tables on
//! by default, lazy `br_netfilter`, firewalld's `docker-forwarding` policy)
//! are not modelled. 28.0 and 28.1 (ipsets, per-port raw drops) are refused.
//!
//! moby's iptabler and nftabler golden files are byte-identical at every
//! 29.x tag (`testdata` tree `ee10dc00d6f8` / `a0ed24496001`): no 29.x point
//! release changed the bridge driver's rules.

use std::fmt;
use std::str::FromStr;

use super::layout::Layout;

/// A Docker release, `major.minor.patch` (e.g. `29.7.2`), as
/// `[daemon] version` and [`DaemonOptions::version`](super::DaemonOptions)
/// take it. Parse `"29.7"` for the newest patch of 29.7. It selects the
/// layout (20.10–27.x classic, 28.2–28.5 V28, 29.0–29.7 V29) and the point
/// release's differences within it.
///
/// ```
/// use netrig::docker::Version;
/// let v: Version = "29.5".parse().unwrap();
/// assert_eq!((v.major, v.minor, v.patch), (29, 5, 3));
/// assert!("28.1".parse::<Version>().unwrap_err().contains("28.2"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version {
    /// Major (20 for 20.10, then 23–29).
    pub major: u8,
    /// Minor.
    pub minor: u8,
    /// Patch.
    pub patch: u8,
}

/// The newest patch of each minor release netrig knows (moby's tags).
const NEWEST_PATCH: &[(u8, u8, u8)] = &[
    (20, 10, 27),
    (23, 0, 18),
    (24, 0, 9),
    (25, 0, 17),
    (26, 0, 2),
    (26, 1, 5),
    (27, 0, 3),
    (27, 1, 2),
    (27, 2, 1),
    (27, 3, 1),
    (27, 4, 1),
    (27, 5, 1),
    (28, 2, 2),
    (28, 3, 3),
    (28, 4, 0),
    (28, 5, 2),
    (29, 0, 4),
    (29, 1, 5),
    (29, 2, 1),
    (29, 3, 1),
    (29, 4, 3),
    (29, 5, 3),
    (29, 6, 2),
    (29, 7, 2),
];

impl Version {
    pub(crate) const fn new(major: u8, minor: u8, patch: u8) -> Version {
        Version {
            major,
            minor,
            patch,
        }
    }

    /// The newest release netrig emulates in `layout`.
    pub(crate) fn newest(layout: Layout) -> Version {
        match layout {
            Layout::Classic => Version::new(27, 5, 1),
            Layout::V28 => Version::new(28, 5, 2),
            Layout::V29 => Version::new(29, 7, 2),
        }
    }

    /// The layout this release's rules have.
    pub(crate) fn layout(self) -> Layout {
        match self.major {
            ..=27 => Layout::Classic,
            28 => Layout::V28,
            _ => Layout::V29,
        }
    }
}

impl FromStr for Version {
    type Err = String;
    /// `MAJOR.MINOR[.PATCH]`, a release netrig knows (20.10–27.x, 28.2–28.5,
    /// 29.0–29.7.2); without a patch, the newest patch.
    fn from_str(s: &str) -> Result<Version, String> {
        let bad = || format!("{s:?} is not a Docker version (write it as \"29.7\" or \"29.7.2\")");
        let parts: Vec<&str> = s.trim().trim_start_matches('v').split('.').collect();
        let num = |p: &str| p.parse::<u8>().map_err(|_| bad());
        let (major, minor, patch) = match parts.as_slice() {
            [a, b] => (num(a)?, num(b)?, None),
            [a, b, c] => (num(a)?, num(b)?, Some(num(c)?)),
            _ => return Err(bad()),
        };
        if major == 28 && minor < 2 {
            return Err(format!(
                "Docker {s} is not emulated: 28.0 and 28.1 filter with ipsets and per-port raw drops \
                 (use 28.2 or later, layout v28)"
            ));
        }
        let Some(&(_, _, newest)) = NEWEST_PATCH
            .iter()
            .find(|(a, b, _)| (*a, *b) == (major, minor))
        else {
            return Err(format!(
                "Docker {s} is not a release netrig emulates: 20.10 and 23.0–27.5 (classic), \
                 28.2–28.5 (v28), 29.0–29.7 (v29; the newest tag read is docker-v29.7.2)"
            ));
        };
        let patch = patch.unwrap_or(newest);
        if patch > newest {
            return Err(format!(
                "Docker {s}: the newest {major}.{minor} release netrig knows is {major}.{minor}.{newest}"
            ));
        }
        Ok(Version::new(major, minor, patch))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_to_known_releases() {
        let v: Version = "29.7".parse().unwrap();
        assert_eq!(v, Version::new(29, 7, 2));
        assert_eq!(v.to_string(), "29.7.2");
        assert_eq!(v.layout(), Layout::V29);
        assert_eq!("v29.5.0".parse(), Ok(Version::new(29, 5, 0)));
        assert_eq!("28.5".parse::<Version>().unwrap().layout(), Layout::V28);
        assert_eq!(
            "20.10.24".parse::<Version>().unwrap().layout(),
            Layout::Classic
        );
        assert!(
            "29.9"
                .parse::<Version>()
                .unwrap_err()
                .contains("docker-v29.7.2")
        );
        assert!("29.7.3".parse::<Version>().unwrap_err().contains("29.7.2"));
        assert!("28.0.4".parse::<Version>().unwrap_err().contains("ipsets"));
        assert!(
            "twenty"
                .parse::<Version>()
                .unwrap_err()
                .contains("\"29.7\"")
        );
        for l in Layout::ALL {
            assert_eq!(Version::newest(l).layout(), l);
        }
    }
}
