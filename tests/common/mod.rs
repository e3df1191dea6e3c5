//! Helpers shared by the harness's own integration tests.
#![allow(dead_code)]

pub mod fork;
pub mod host_lab;
pub mod labs;
pub mod recordings;
pub mod recordings28;
pub mod recordings_ipv6;
pub mod wire;
pub mod witness;

use std::time::Duration;

/// Held by every lab test for its duration (shared); tests that count the
/// namespaces this process holds take it exclusively, so no other test
/// builds labs meanwhile. (Privilege skips are the harness's job.)
pub static LABS: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// The shared hold on [`LABS`].
pub fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    LABS.read().unwrap_or_else(|p| p.into_inner())
}

/// The exclusive hold on [`LABS`].
pub fn exclusive() -> std::sync::RwLockWriteGuard<'static, ()> {
    LABS.write().unwrap_or_else(|p| p.into_inner())
}

/// Inodes of every network namespace this process holds through an fd or a thread.
pub fn held_netns_inodes() -> Vec<u64> {
    let mut out = Vec::new();
    let me = std::process::id();
    for entry in std::fs::read_dir(format!("/proc/{me}/fd"))
        .unwrap()
        .flatten()
    {
        if let Ok(target) = std::fs::read_link(entry.path())
            && let Some(s) = target.to_str()
            && let Some(inode) = s.strip_prefix("net:[").and_then(|r| r.strip_suffix(']'))
        {
            out.push(inode.parse().unwrap());
        }
    }
    out.sort();
    out
}

#[allow(unused_imports)]
pub use fork::ForkedFdHolder;
#[allow(unused_imports)]
pub use witness::Witness;

/// A node's network namespace inode, as `ls -l /proc/PID/ns/net` shows it.
pub fn inode(node: &netrig::Node<'_>) -> u64 {
    use std::os::unix::fs::MetadataExt;
    node.run(|| std::fs::metadata("/proc/thread-self/ns/net").map(|m| m.ino()))
        .unwrap()
        .unwrap()
}

/// Waits for process `pid` (not our child) to exit.
pub fn wait_pid_gone(pid: i32, deadline: Duration) -> bool {
    netrig::testing::wait_for_exit(pid as u32, deadline).unwrap()
}

/// Names of a node's links, as the kernel reports them.
pub fn link_names(lab: &netrig::Lab, node: &str) -> Vec<String> {
    lab.node(node)
        .unwrap()
        .links()
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect()
}

/// A topology file of `topologies/`, its lab renamed uniquely for this test.
pub fn topology(file: &str, prefix: &str) -> netrig::LabSpec {
    let path = format!("{}/topologies/{file}", env!("CARGO_MANIFEST_DIR"));
    let mut spec = netrig::topology::load(&path).unwrap();
    spec.set_name(netrig::unique_lab_name(prefix));
    spec
}
