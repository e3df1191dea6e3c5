//! Network namespaces: anonymous, held by a file descriptor, entered only by
//! threads made for the purpose.
//!
//! A [`Netns`] owns an fd to an anonymous network namespace created with
//! `unshare(CLONE_NEWNET)` on a short-lived thread. There is no `/run/netns`
//! entry: when the last fd (or socket, or process) inside it goes away — at
//! drop, at panic, or when the process is SIGKILLed — the kernel destroys the
//! namespace and every virtual interface in it.
//!
//! Guarantee: no function here changes the namespace of the calling thread.
//! In-namespace work runs on a scoped thread ([`Netns::run`]) that enters,
//! does the work (typically *creating* a socket, which stays bound to the
//! namespace it was created in) and exits.
//!
//! Pinning a namespace to a path ([`Netns::pin`]) is an explicit debugging
//! feature (`ip netns exec`, `nsenter`, tcpdump); the [`Pin`] removes itself
//! on drop.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::sched::{CloneFlags, setns, unshare};

use crate::error::{Error, Result, Subject};
use crate::sysctl;

/// What a freshly created namespace is prepared with, on its creating thread.
#[derive(Debug, Clone, Default)]
pub(crate) struct NetnsOptions {
    /// Keep IPv6 enabled (default: `net.ipv6.conf.{all,default}.disable_ipv6=1`,
    /// which keeps router solicitations and MLD out of captures).
    pub(crate) ipv6: bool,
    /// Extra sysctls written right after creation, as (`net/ipv4/ip_forward`, `1`):
    /// paths are relative to `/proc/sys`.
    pub(crate) sysctls: Vec<(String, String)>,
}

/// An anonymous network namespace, alive as long as this value (or anything
/// created inside it) is. Shared through [`crate::Namespace`].
#[derive(Debug)]
pub(crate) struct Netns {
    fd: OwnedFd,
    inode: u64,
    subject: Subject,
}

/// A namespace fresh from creation, with a raw rtnetlink socket made inside it.
#[derive(Debug)]
pub(crate) struct NetnsSeed {
    pub(crate) netns: Netns,
    /// An `AF_NETLINK/NETLINK_ROUTE` socket bound to the namespace.
    pub(crate) netlink: OwnedFd,
    /// A second one, subscribed to bring-up events (for bring-up only; see
    /// `netlink::event_groups`).
    pub(crate) events: OwnedFd,
    /// The highest interface index present right after creation.
    pub(crate) max_ifindex: u32,
}

impl Netns {
    /// Creates namespaces on short-lived threads, each prepared with its
    /// options, `lo` up and rtnetlink sockets, returned in the order given.
    /// All or nothing: on error, the ones already made are dropped.
    pub(crate) fn create_batch(specs: &[(Subject, NetnsOptions)]) -> Result<Vec<NetnsSeed>> {
        // The kernel creates namespaces in parallel (it takes its pernet lock
        // shared), so big batches are split over one thread per core; small
        // ones stay on one thread, which is cheaper than spawning more.
        const PER_THREAD_MIN: usize = 8;
        let cores = cores();
        let threads = (specs.len() / PER_THREAD_MIN).clamp(1, cores);
        let chunk = specs.len().div_ceil(threads).max(1);
        let results: Vec<Result<Vec<NetnsSeed>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = specs
                .chunks(chunk)
                .map(|part| {
                    std::thread::Builder::new()
                        .name("netrig-unshare".into())
                        .spawn_scoped(scope, move || -> Result<Vec<NetnsSeed>> {
                            part.iter()
                                .map(|(subject, options)| {
                                    create_on_this_thread(subject.clone(), options)
                                })
                                .collect()
                        })
                        .map_err(|e| {
                            Error::io(Subject::default(), "spawn a namespace-creating thread", e)
                        })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h?.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        // All or nothing: on an error every seed made so far is dropped here.
        let mut seeds = Vec::with_capacity(specs.len());
        for r in results {
            seeds.extend(r?);
        }
        tracing::debug!(count = seeds.len(), threads, "created network namespaces");
        Ok(seeds)
    }

    /// A network namespace netrig did not create, opened by path
    /// (`/proc/PID/ns/net`, a pin under `/run/netns`) and held by its fd
    /// from now on: it lives as long as this value, whatever happens to the
    /// process or pin it was found by.
    pub(crate) fn open(path: &Path, subject: Subject) -> Result<Netns> {
        /// `NS_GET_NSTYPE`, `_IO(0xb7, 0x3)`.
        const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
        let file = File::open(path).map_err(|e| {
            namespace_error(subject.clone(), &format!("open {}", path.display()), e)
        })?;
        // SAFETY: an ioctl without argument on an open fd.
        let kind = unsafe { libc::ioctl(file.as_raw_fd(), NS_GET_NSTYPE as _) };
        if kind != libc::CLONE_NEWNET {
            return Err(Error::invalid(
                subject,
                "namespace",
                format!("{} is not a network namespace", path.display()),
            ));
        }
        let inode = file
            .metadata()
            .map_err(|e| namespace_error(subject.clone(), "stat the namespace", e))?
            .ino();
        tracing::debug!(%subject, path = %path.display(), inode, "namespace adopted");
        Ok(Netns {
            fd: OwnedFd::from(file),
            inode,
            subject,
        })
    }

    /// Runs `f` on a new thread inside this namespace and returns its result.
    ///
    /// Use it to create sockets, netlink connections and pcap handles, and to
    /// read or write `/proc/sys/net/...` (which resolves per thread). The
    /// calling thread never changes namespace. Panics in `f` propagate.
    pub(crate) fn run<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        std::thread::scope(|scope| {
            let joined = std::thread::Builder::new()
                .name(format!(
                    "netrig-ns-{}",
                    self.subject.node.as_deref().unwrap_or("?")
                ))
                .spawn_scoped(scope, || -> Result<R> {
                    self.enter_current_thread()?;
                    Ok(f())
                })
                .map_err(|e| Error::io(self.subject.clone(), "spawn an in-namespace thread", e))?
                .join();
            joined.unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// Moves the *current* thread into this namespace.
    ///
    /// Only for threads netrig created for this purpose (see the module docs).
    pub(crate) fn enter_current_thread(&self) -> Result<()> {
        setns(self.fd.as_fd(), CloneFlags::CLONE_NEWNET)
            .map_err(|e| self.err("enter the namespace (setns)", e.into()))
    }

    /// The namespace's inode number (as `ls -l /proc/PID/ns/net` shows it).
    pub(crate) fn inode(&self) -> u64 {
        self.inode
    }

    /// The raw fd, for a `setns` in a child's `pre_exec` (the caller keeps
    /// this value alive until the child has exec'd).
    pub(crate) fn raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }

    /// Writes sysctls inside this namespace, in order, from one thread
    /// inside it; stops at the first that fails, naming it.
    pub(crate) fn sysctl_set_all(&self, pairs: &[(&str, &str)]) -> Result<()> {
        tracing::debug!(subject = %self.subject, ?pairs, "sysctl write");
        self.run(|| {
            pairs.iter().try_for_each(|&(key, value)| {
                sysctl::write_on_this_thread(key, value).map_err(|e| (key, value, e))
            })
        })?
        .map_err(|(key, value, e)| {
            Error::io(
                self.subject.clone(),
                format!("write sysctl {key}={value}"),
                e,
            )
        })
    }

    /// Reads a sysctl inside this namespace.
    pub(crate) fn sysctl_get(&self, key: &str) -> Result<String> {
        self.run(|| sysctl::read_on_this_thread(key))?
            .map_err(|e| Error::io(self.subject.clone(), format!("read sysctl {key}"), e))
    }

    /// Pins the namespace to `path` with a bind mount, so that tools outside
    /// netrig (`ip netns exec`, `nsenter --net=PATH`) can enter it. The pin
    /// is removed when the returned [`Pin`] is dropped; a pin left behind by a
    /// killed process is removed with [`Pin::remove_path`].
    pub(crate) fn pin(&self, path: &Path) -> Result<Pin> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| self.err(&format!("create {}", parent.display()), e))?;
        }
        File::create(path)
            .map_err(|e| self.err(&format!("create pin file {}", path.display()), e))?;
        let source = format!("/proc/self/fd/{}", self.fd.as_raw_fd());
        if let Err(e) = nix::mount::mount(
            Some(source.as_str()),
            path,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        ) {
            let _ = std::fs::remove_file(path);
            return Err(self.err(
                &format!("bind-mount the namespace on {}", path.display()),
                e.into(),
            ));
        }
        tracing::debug!(path = %path.display(), subject = %self.subject, "pinned namespace");
        Ok(Pin {
            path: path.to_path_buf(),
        })
    }

    fn err(&self, op: &str, source: io::Error) -> Error {
        namespace_error(self.subject.clone(), op, source)
    }
}

impl AsFd for Netns {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A namespace bind-mounted on a path; unmounted and removed on drop.
#[derive(Debug)]
pub struct Pin {
    path: PathBuf,
}

impl Pin {
    /// The pinned path (e.g. `/run/netns/mylab-web`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Unmounts and removes the pin now, reporting a failure (drop only logs it).
    pub fn remove(mut self) -> io::Result<()> {
        let path = std::mem::take(&mut self.path);
        let r = Pin::remove_path(&path);
        if r.is_ok() {
            tracing::debug!(path = %path.display(), "unpinned namespace");
        }
        r
    }

    /// Unmounts and removes a pin path, whether or not this process made it.
    pub fn remove_path(path: &Path) -> io::Result<()> {
        match nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
            Err(e) => return Err(e.into()),
        }
        match std::fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        if self.path.as_os_str().is_empty() {
            return; // already removed by Pin::remove
        }
        if let Err(e) = Pin::remove_path(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "could not remove namespace pin");
        } else {
            tracing::debug!(path = %self.path.display(), "unpinned namespace");
        }
    }
}

fn namespace_error(subject: Subject, op: &str, source: io::Error) -> Error {
    if matches!(source.raw_os_error(), Some(libc::EPERM)) && op.starts_with("create") {
        return Error::NotPrivileged {
            detail: format!("{subject}: {op}: {source}"),
        };
    }
    Error::Namespace {
        subject,
        op: op.to_string(),
        source,
    }
}

/// Runs on the creating thread: unshare, keep an fd, prepare, open netlink.
fn create_on_this_thread(subject: Subject, options: &NetnsOptions) -> Result<NetnsSeed> {
    unshare(CloneFlags::CLONE_NEWNET).map_err(|e| {
        namespace_error(
            subject.clone(),
            "create a network namespace (unshare)",
            e.into(),
        )
    })?;
    let file = File::open("/proc/thread-self/ns/net")
        .map_err(|e| namespace_error(subject.clone(), "open /proc/thread-self/ns/net", e))?;
    let inode = file
        .metadata()
        .map_err(|e| namespace_error(subject.clone(), "stat the namespace", e))?
        .ino();
    let netns = Netns {
        fd: OwnedFd::from(file),
        inode,
        subject: subject.clone(),
    };
    if !options.ipv6 {
        disable_ipv6().map_err(|e| netns.err(&format!("set {DISABLE_IPV6_ALL}=1"), e))?;
    }
    for (key, value) in &options.sysctls {
        sysctl::write_on_this_thread(key, value)
            .map_err(|e| netns.err(&format!("set {key}={value}"), e))?;
    }
    set_loopback_up().map_err(|e| netns.err("bring lo up", e))?;
    let netlink = netlink_socket(None).map_err(|e| netns.err("open an rtnetlink socket", e))?;
    // A second socket, subscribed to link (and IPv6 route) events from birth so
    // no state change of a link or address netrig creates can be missed; used
    // only while the lab is built (see netlink::BringUpEvents), so the request
    // socket's replies can never be crowded out of its receive buffer by events.
    let events = netlink_socket(Some(crate::netlink::event_groups(options.ipv6)))
        .map_err(|e| netns.err("subscribe to link events", e))?;
    let max_ifindex = nix::net::if_::if_nameindex()
        .map(|list| list.iter().map(|i| i.index()).max().unwrap_or(1))
        .unwrap_or(1);
    tracing::debug!(%subject, inode, "namespace created (lo up, ipv6 {})", if options.ipv6 { "on" } else { "off" });
    Ok(NetnsSeed {
        netns,
        netlink,
        events,
        max_ifindex,
    })
}

/// The cores this process may use, asked once per process:
/// `available_parallelism` opens and reads three cgroup files each time
/// (about ten system calls per lab).
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The sysctl that switches IPv6 off in a whole namespace.
const DISABLE_IPV6_ALL: &str = "net/ipv6/conf/all/disable_ipv6";

/// Switches IPv6 off in the calling thread's fresh namespace with one write:
/// the kernel copies `all/disable_ipv6` to `default` (and to every existing
/// interface), so links made later are born with IPv6 off too. A kernel
/// without IPv6 (no `/proc/sys/net/ipv6`) has nothing to switch off.
fn disable_ipv6() -> io::Result<()> {
    match sysctl::write_on_this_thread(DISABLE_IPV6_ALL, "1") {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// An `AF_NETLINK/NETLINK_ROUTE` socket in the calling thread's namespace,
/// bound to multicast `groups` when given (with a larger receive buffer, and
/// overflow reported as lost messages rather than as a socket error).
/// An rtnetlink socket in the calling thread's namespace, joined to `groups`
/// (with a large receive buffer) when given.
pub(crate) fn netlink_socket(groups: Option<u32>) -> io::Result<OwnedFd> {
    let mut socket = rtnetlink::sys::Socket::new(rtnetlink::sys::constants::NETLINK_ROUTE)?;
    if let Some(groups) = groups {
        socket.set_no_enobufs(true)?;
        // 4 MiB, past net.core.rmem_max when privileged (SO_RCVBUFFORCE): a big
        // lab's bring-up emits thousands of link events in a burst.
        let size: libc::c_int = 4 << 20;
        // SAFETY: setsockopt on an open socket with a valid int option value.
        let forced = unsafe {
            libc::setsockopt(
                std::os::fd::AsRawFd::as_raw_fd(&socket),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if forced != 0 {
            socket.set_rx_buf_sz(size as usize)?;
        }
        socket.bind(&rtnetlink::sys::SocketAddr::new(0, groups))?;
    }
    // SAFETY: into_raw_fd hands over sole ownership of an open fd.
    Ok(unsafe {
        <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(
            socket,
        ))
    })
}

/// `ip link set lo up` for the calling thread's namespace, with one ioctl
/// (cheaper than a netlink round trip at namespace-creation time).
fn set_loopback_up() -> io::Result<()> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: req is a valid ifreq with a NUL-terminated name; the socket is open.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
