//! Helpers shared by the harness's own integration tests.
#![allow(dead_code)]

pub mod labs;
pub mod recordings;

use std::time::Duration;

use futures::StreamExt;
use netrig::Netns;
use rtnetlink::packet_core::NetlinkPayload;
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::LinkAttribute;

/// Skips (visibly) or fails (in CI) when unprivileged. Binds a guard for the
/// rest of the test: shared by default; `exclusive` for tests that count the
/// namespaces this process holds (no other test may build labs meanwhile).
#[macro_export]
macro_rules! require_privileges {
    ($name:expr) => {
        if !netrig::privilege::should_run($name).expect("privileges are required here") {
            return;
        }
        let _lab_guard = common::LABS.read().unwrap_or_else(|p| p.into_inner());
    };
    ($name:expr, exclusive) => {
        if !netrig::privilege::should_run($name).expect("privileges are required here") {
            return;
        }
        let _lab_guard = common::LABS.write().unwrap_or_else(|p| p.into_inner());
    };
}

/// See [`require_privileges!`].
pub static LABS: std::sync::RwLock<()> = std::sync::RwLock::new(());

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

/// A namespace outside any lab that watches link events, to observe through
/// the kernel that a lab's interfaces disappear.
pub struct Witness {
    pub netns: Netns,
    rt: tokio::runtime::Runtime,
    events: futures::channel::mpsc::UnboundedReceiver<(
        rtnetlink::packet_core::NetlinkMessage<RouteNetlinkMessage>,
        rtnetlink::sys::SocketAddr,
    )>,
    _handle: rtnetlink::Handle,
}

impl Witness {
    pub fn new() -> Witness {
        let netns = Netns::new("witness").unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (conn, handle, events) = netns
            .run(|| {
                let _g = rt.enter();
                rtnetlink::new_multicast_connection(&[rtnetlink::MulticastGroup::Link])
            })
            .unwrap()
            .unwrap();
        rt.spawn(conn);
        Witness {
            netns,
            rt,
            events,
            _handle: handle,
        }
    }

    /// Waits until the kernel announces that link `name` left this namespace.
    pub fn wait_link_removed(&mut self, name: &str, deadline: Duration) -> bool {
        let events = &mut self.events;
        self.rt.block_on(async {
            tokio::time::timeout(deadline, async {
                while let Some((msg, _)) = events.next().await {
                    if let NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(link)) =
                        msg.payload
                        && link
                            .attributes
                            .iter()
                            .any(|a| matches!(a, LinkAttribute::IfName(n) if n == name))
                    {
                        return true;
                    }
                }
                false
            })
            .await
            .unwrap_or(false)
        })
    }

    /// Names of the links in the witness namespace now.
    pub fn links(&self) -> Vec<String> {
        let out = self
            .netns
            .run(|| {
                std::process::Command::new("ip")
                    .args(["-o", "link"])
                    .output()
            })
            .unwrap()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                l.split(": ")
                    .nth(1)
                    .map(|n| n.split('@').next().unwrap().to_string())
            })
            .collect()
    }
}

/// Waits for process `pid` (not our child) to exit, via a pidfd.
pub fn wait_pid_gone(pid: i32, deadline: Duration) -> bool {
    // SAFETY: plain syscall.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
    }
    let mut p = libc::pollfd {
        fd: fd as i32,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: valid pollfd array of length 1; fd closed after.
    let r = unsafe { libc::poll(&mut p, 1, deadline.as_millis() as i32) };
    unsafe { libc::close(fd as i32) };
    r == 1
}

/// Pin files under /run/netns now.
pub fn run_netns_entries() -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}
