//! Helpers for tests of labs: checks through the kernel that netrig kept its
//! promises (teardown, namespaces untouched).

mod witness;

pub use witness::Witness;

/// The inode of the calling thread's network namespace: a test compares it
/// before and after working with a lab to show its own thread never moved.
///
/// ```no_run
/// let before = netrig::testing::current_thread_netns_inode()?;
/// # Ok::<_, std::io::Error>(())
/// ```
pub fn current_thread_netns_inode() -> std::io::Result<u64> {
    crate::netns::current_thread_netns_inode()
}

/// Waits until process `pid` (any process, not only a child) has exited, up
/// to `timeout`, on a pidfd — it wakes the moment the process ends. Returns
/// whether it has exited; a pid that does not exist counts as exited.
///
/// ```
/// let me = std::process::id();
/// assert!(!netrig::testing::wait_for_exit(me, std::time::Duration::ZERO).unwrap());
/// ```
pub fn wait_for_exit(pid: u32, timeout: std::time::Duration) -> std::io::Result<bool> {
    crate::process::wait_for_exit(pid, timeout)
}
