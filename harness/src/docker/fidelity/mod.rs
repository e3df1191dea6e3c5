//! Fidelity: netrig's Docker rendering against what real daemons left
//! behind (`tests/data/real-docker` for Docker 20.10.24,
//! `tests/data/real-docker-28` for Docker 28.5.2, `tests/data/docker-rules`
//! for what layout V29 derives), step by step, rule for rule — rendered,
//! and loaded with the real tools in a lab node and read back. These tests
//! read the model's timeline and rendering (steps, rules per step, kernel
//! settings, proxies, reservations), which are the crate's own.
//!
//! - [`rules`]: every recorded variant of every release, one test per case
//!   (`rules::v28_5_2::lo_publish::loaded`, …);
//! - [`docker_restart`]: daemon restarts in the classic layout;
//! - [`docker_prestart`]: the host's rules before the daemon starts;
//! - [`docker_v28_host`]: a V28 host's state besides its IPv4 rules;
//! - [`goldens`]: layout V29 against moby's iptabler and nftabler goldens.
//!
//! Tests that build labs start with [`crate::privilege::should_run`]: they
//! skip visibly without privileges, and fail so under `CI=true`.

mod docker_prestart;
mod docker_restart;
mod docker_v28_host;
mod goldens;
mod ipv6;
mod recordings;
mod recordings28;
mod rules;

use crate::docker::DockerHost;
use crate::{Lab, LabSpec};

/// Whether a test that builds labs runs here (see [`crate::privilege::should_run`]).
fn builds_labs(test: &str) -> bool {
    crate::privilege::should_run(test).unwrap()
}

/// A Docker model brought up as its own lab.
fn up(host: &DockerHost) -> crate::Result<Lab> {
    LabSpec::from(host.clone()).up()
}
