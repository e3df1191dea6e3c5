//! Docker's firewall rules, every check of them a case: for each Docker
//! release recorded and each daemon variant recorded of it, the rules as
//! netrig renders them (`rendered`) and as it loads them — with the real
//! `iptables-*-restore`/`nft` in a lab node, read back with the real save
//! tools (`loaded`) — compared rule for rule with what the real daemon left
//! behind, at every recorded step:
//!
//! - Docker 20.10.24, classic layout (`tests/data/real-docker`, [`v20_10`]);
//! - Docker 28.5.2, layout V28 (`tests/data/real-docker-28`, [`v28_5_2`]);
//! - layout V29 ([`v29`]), of which no daemon was recorded: each 28.5.2
//!   variant rendered by V29 against its recording with docker-rules §1.4's
//!   29.x changes applied, plus checks against docker-rules §1.2, §1.3 and
//!   §1.5 (`tests/data/docker-rules`).
//!
//! A case is the test `rules::VERSION::VARIANT::CHECK` — e.g.
//! `rules::v28_5_2::lo_publish::loaded`, `rules::v29::routed::rendered_vs_v28_5_2`
//! (the variant's recorded name with `-` as `_`) — so
//! `cargo test --lib rules::v28_5_2::` runs one release's. Each release's
//! module lists its recorded variants once ([`variants!`]), which makes the
//! cases; the other checks are tests of their own.

use super::recordings::standard;
use crate::docker::ruleset::Table;
use crate::docker::{DockerHost, Layout};

/// A release's recorded variants, each a module of its cases:
/// `variants!(checks [rendered, loaded]; default = "default", legacy_backend
/// = "legacy-backend" also legacy_backend_is_legacy_only, …)` makes, per
/// variant, `mod default { #[test] fn rendered() … #[test] fn loaded() … }`
/// calling the release module's `rendered(variant)` (then the `also` check)
/// and `loaded(variant)` (a lab test), and `RECORDED`, the variants' names.
/// The check `rendered_vs_v28_5_2` calls `rendered_vs_v28_5_2(variant)`;
/// `plus [test = function, …]` adds the variant's other cases.
macro_rules! variants {
    (checks $checks:tt;
     $($module:ident = $variant:literal $(also $also:ident)? $(plus [$($test:ident = $body:ident),+])?),+ $(,)?) => {
        /// The recorded variants with cases here, by their recorded names
        /// (read by `v28_5_2::every_variant_is_in_the_table`).
        #[allow(dead_code)]
        pub(super) const RECORDED: &[&str] = &[$($variant),+];
        $(
            variants!(@module $module $variant $checks [$($also)?] [$($($test = $body),+)?]);
        )+
    };
    (@module $module:ident $variant:literal [$($check:ident),+] $also:tt [$($test:ident = $body:ident),*]) => {
        #[doc = concat!("The cases of the recorded variant `", $variant, "`.")]
        mod $module {
            $(
                variants!(@case $check $variant $also);
            )+
            $(
                #[test]
                fn $test() {
                    super::$body();
                }
            )*
        }
    };
    (@case rendered $variant:literal [$($also:ident)?]) => {
        /// The rendering equals the recording, rule for rule, at every recorded step.
        #[test]
        fn rendered() {
            super::rendered($variant);
            $(super::$also();)?
        }
    };
    (@case loaded $variant:literal [$($also:ident)?]) => {
        /// The rendering, loaded with the real restore tools in a lab node and
        /// read back with the save tools, equals the recording at every recorded step.
        #[test]
        fn loaded() {
            let name = module_path!().replacen("netrig::", "", 1) + "::loaded";
            if !$crate::docker::fidelity::builds_labs(&name) {
                return;
            }
            super::loaded($variant);
        }
    };
    (@case rendered_vs_v28_5_2 $variant:literal [$($also:ident)?]) => {
        /// Layout V29 rendering the variant's scenario equals the 28.5.2
        /// recording with docker-rules §1.4's 29.x changes applied, every
        /// step, IPv4 and IPv6.
        #[test]
        fn rendered_vs_v28_5_2() {
            super::rendered_vs_v28_5_2($variant);
        }
    };
}

mod v20_10;
mod v28_5_2;
mod v29;

/// The filter FORWARD policy is DROP only when Docker itself turned forwarding on
/// (and, from 28, not with `--ip-forward-no-drop`).
mod every_layout {
    use super::*;

    #[test]
    fn forward_policy_follows_ip_forward() {
        for layout in [Layout::V28, Layout::V29] {
            let no_drop = standard(
                DockerHost::builder()
                    .layout(layout)
                    .ip_forward_no_drop(true),
                false,
            );
            assert_eq!(
                no_drop
                    .running()
                    .iptables()
                    .policy(Table::Filter, "FORWARD"),
                Some("ACCEPT"),
                "{layout}"
            );
            assert!(no_drop.daemon().host_forwards(), "{layout}");
        }
        for layout in Layout::ALL {
            let dropped = standard(DockerHost::builder().layout(layout), false);
            assert_eq!(
                dropped
                    .running()
                    .iptables()
                    .policy(Table::Filter, "FORWARD"),
                Some("DROP"),
                "{layout}"
            );
            let was_on = standard(
                DockerHost::builder().layout(layout).ip_forward_was_on(true),
                false,
            );
            assert_eq!(
                was_on.running().iptables().policy(Table::Filter, "FORWARD"),
                Some("ACCEPT"),
                "{layout}"
            );
            let off = standard(
                DockerHost::builder().layout(layout).ip_forward(false),
                false,
            );
            assert_eq!(
                off.running().iptables().policy(Table::Filter, "FORWARD"),
                Some("ACCEPT"),
                "{layout}"
            );
        }
    }
}
