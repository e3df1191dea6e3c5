//! Sysctls of a namespace, read and written through `/proc/sys` by a thread
//! inside it (`/proc/sys/net` resolves to the *calling thread's* namespace).
//!
//! Keys may be given with dots (`net.ipv4.ip_forward`) or slashes
//! (`net/ipv4/ip_forward`). Interface names containing dots are not
//! supported in the dotted form; use slashes for those.

use std::io;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::netns::Netns;

/// The `/proc/sys` path of a key given as `net.ipv4.ip_forward` or `net/ipv4/ip_forward`.
///
/// ```
/// assert_eq!(netrig::sysctl::path_of("net.ipv4.ip_forward").to_str(), Some("/proc/sys/net/ipv4/ip_forward"));
/// assert_eq!(netrig::sysctl::path_of("net/ipv4/conf/br-x.y/rp_filter").to_str(), Some("/proc/sys/net/ipv4/conf/br-x.y/rp_filter"));
/// ```
pub fn path_of(key: &str) -> PathBuf {
    let rel = if key.contains('/') {
        key.to_string()
    } else {
        key.replace('.', "/")
    };
    PathBuf::from("/proc/sys").join(rel.trim_start_matches('/'))
}

/// Writes a sysctl for the calling thread's namespace.
pub(crate) fn write_on_this_thread(key: &str, value: &str) -> io::Result<()> {
    std::fs::write(path_of(key), value)
}

/// Reads a sysctl for the calling thread's namespace (trimmed).
pub(crate) fn read_on_this_thread(key: &str) -> io::Result<String> {
    Ok(std::fs::read_to_string(path_of(key))?.trim().to_string())
}

impl Netns {
    /// Writes a sysctl inside this namespace.
    ///
    /// ```no_run
    /// # let ns = netrig::Netns::new("r")?;
    /// ns.sysctl_set("net.ipv4.ip_forward", "1")?;
    /// # Ok::<_, netrig::Error>(())
    /// ```
    pub fn sysctl_set(&self, key: &str, value: &str) -> Result<()> {
        tracing::debug!(subject = %self.subject(), key, value, "sysctl write");
        self.run(|| write_on_this_thread(key, value))?.map_err(|e| {
            Error::io(
                self.subject().clone(),
                format!("write sysctl {key}={value}"),
                e,
            )
        })
    }

    /// Reads a sysctl inside this namespace.
    pub fn sysctl_get(&self, key: &str) -> Result<String> {
        self.run(|| read_on_this_thread(key))?
            .map_err(|e| Error::io(self.subject().clone(), format!("read sysctl {key}"), e))
    }
}
