//! Sysctls of a namespace, read and written through `/proc/sys` by a thread
//! inside it (`/proc/sys/net` resolves to the *calling thread's* namespace).
//!
//! Keys may be given with dots (`net.ipv4.ip_forward`) or slashes
//! (`net/ipv4/ip_forward`). Interface names containing dots are not
//! supported in the dotted form; use slashes for those.

use std::io;
use std::path::PathBuf;

/// The `/proc/sys` path of a key given as `net.ipv4.ip_forward` or `net/ipv4/ip_forward`.
pub(crate) fn path_of(key: &str) -> PathBuf {
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

#[cfg(test)]
mod tests {
    #[test]
    fn keys_with_dots_or_slashes() {
        assert_eq!(
            super::path_of("net.ipv4.ip_forward").to_str(),
            Some("/proc/sys/net/ipv4/ip_forward")
        );
        assert_eq!(
            super::path_of("net/ipv4/conf/br-x.y/rp_filter").to_str(),
            Some("/proc/sys/net/ipv4/conf/br-x.y/rp_filter")
        );
    }
}
