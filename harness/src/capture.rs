//! Packet capture on one interface of one node, recorded to a `.pcap` file
//! and decoded into a growing list of [`Packet`]s.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result, Subject};
use crate::namespace::Namespace;
use crate::net::Mac;
use crate::packet::{Direction, Packet};

/// How to open a capture.
#[derive(Debug, Clone)]
pub struct CaptureOptions {
    /// A BPF filter in tcpdump syntax (`udp and port 53`); `None` captures all.
    pub filter: Option<String>,
    /// Bytes kept per frame (default 65535).
    pub snaplen: i32,
    /// Promiscuous mode (default on: see frames for other MACs on bridges).
    pub promisc: bool,
    /// Kernel ring size in bytes (default 8 MiB). In immediate mode on an
    /// interface with offloads (veth), each ring slot holds `snaplen` bytes,
    /// so the ring holds about `buffer_size / snaplen` frames (128 by
    /// default) until the reader thread drains it; for floods of small
    /// frames, lower `snaplen` (1600 covers an MTU-sized frame) or raise this.
    pub buffer_size: i32,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            filter: None,
            snaplen: 65535,
            promisc: true,
            buffer_size: 8 << 20,
        }
    }
}

impl CaptureOptions {
    /// Options with a BPF filter.
    pub fn filter(filter: impl Into<String>) -> Self {
        CaptureOptions::default().with_filter(filter)
    }

    /// The same options with a BPF filter (tcpdump syntax).
    pub(crate) fn with_filter(mut self, filter: impl Into<String>) -> Self {
        self.filter = Some(filter.into());
        self
    }
}

/// libpcap's counters for a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CaptureStats {
    /// Frames the kernel passed to the capture.
    pub received: u32,
    /// Frames dropped because the buffer was full.
    pub dropped: u32,
    /// Frames dropped by the interface.
    pub if_dropped: u32,
}

/// The pcap handle, its savefile and the decoding context, used by whoever
/// drains it (the reader thread, or a caller synchronising).
struct Pipe {
    cap: pcap::Capture<pcap::Active>,
    save: pcap::Savefile,
    mac: Option<Mac>,
    interface: String,
    next_index: u64,
}

// The pcap handle and savefile are only used under the Pipe's mutex.
struct State {
    packets: Vec<Packet>,
    error: Option<String>,
    stopped: bool,
}

struct Shared {
    pipe: Mutex<Pipe>,
    state: Mutex<State>,
    arrived: Condvar,
}

/// A running capture.
///
/// Guarantees:
/// - **active before return**: [`Node::capture`](crate::Node::capture) returns once the pcap handle
///   is open, its BPF filter installed, inside the node's namespace; every
///   frame the interface sees afterwards is captured (unless the kernel
///   drops it, which [`Capture::stats`] reports);
/// - **immediate mode**, so a frame is available microseconds after the
///   kernel sees it;
/// - **never blocks forever**: libpcap's read timeout does not fire inside a
///   namespace, so the handle is nonblocking and a reader thread `poll`s its
///   fd together with a stop eventfd;
/// - every frame is written to `NODE-IFNAME-N.pcap` in the lab's artifacts
///   directory (readable by Wireshark and tcpdump) and the file is flushed
///   after every batch, so what the list holds is on disk too;
/// - waiting for packets (every `expect…(..).within(..)`) is on a condition variable
///   with a deadline; nothing sleeps.
///
/// A handle does not see frames injected through itself; inject through
/// another handle ([`Node::inject`](crate::Node::inject)) and captures see them.
///
/// ```no_run
/// use std::time::Duration;
/// use netrig::expect::udp;
/// # fn demo(lab: &netrig::Lab) -> netrig::Result<()> {
/// let cap = lab.node("b")?.capture("eth0")?;      // active now
/// lab.node("a")?.udp_send("10.0.0.2:7000", b"hi")?;
/// cap.expect(udp().dst("10.0.0.2:7000")).within(Duration::from_secs(1))?;
/// # Ok(()) }
/// ```
pub struct Capture {
    ns: Namespace,
    ifname: String,
    path: PathBuf,
    /// `None` only while dropping (the handle is closed on another thread).
    shared: Option<Arc<Shared>>,
    stop: OwnedFd,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Capture({} -> {})", self.subject(), self.path.display())
    }
}

static CAPTURE_COUNTER: AtomicU32 = AtomicU32::new(0);

impl Namespace {
    /// Starts capturing every frame on `ifname`. Returns once the capture is active.
    pub fn capture(&self, ifname: &str) -> Result<Capture> {
        self.capture_with(ifname, CaptureOptions::default())
    }

    /// Starts capturing on `ifname` with `options` (a BPF filter such as
    /// `CaptureOptions::filter("udp port 53")`, snaplen, buffer size).
    /// Returns once the capture is active.
    pub fn capture_with(&self, ifname: &str, options: CaptureOptions) -> Result<Capture> {
        Capture::start(self, ifname, options)
    }
}

fn capture_error(subject: &Subject, what: &str, e: impl std::fmt::Display) -> Error {
    let mut message = format!("{what}: {e}");
    if message.contains("not up") {
        message.push_str(" (bring the interface up first: node.set_link_up(ifname, true))");
    } else if message.contains("No such device") {
        message.push_str(" (no interface by that name in this node)");
    } else if message.contains("ermission") || message.contains("EPERM") {
        message.push_str(" (capturing needs CAP_NET_RAW: run as root)");
    }
    Error::Capture {
        subject: subject.clone(),
        message,
    }
}

impl Capture {
    fn start(ns: &Namespace, ifname: &str, options: CaptureOptions) -> Result<Capture> {
        let subject = ns.subject().clone().link(ifname);
        let n = CAPTURE_COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = ns
            .artifacts_dir()
            .join(format!("{}-{}-{}.pcap", ns.node_name(), ifname, n));
        let started = Instant::now();
        let opened = ns.run(|| {
            open(ifname, &options, &path).map(|(cap, save)| (cap, save, own_mac(ifname)))
        })?;
        let (cap, save, mac) = opened.map_err(|(what, e)| capture_error(&subject, &what, e))?;
        let raw_stop = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if raw_stop < 0 {
            return Err(Error::io(
                subject,
                "create an eventfd",
                std::io::Error::last_os_error(),
            ));
        }
        // SAFETY: eventfd returned a new fd that we own.
        let stop = unsafe { OwnedFd::from_raw_fd(raw_stop) };
        let shared = Arc::new(Shared {
            pipe: Mutex::new(Pipe {
                cap,
                save,
                mac,
                interface: format!("{}/{}", ns.node_name(), ifname),
                next_index: 0,
            }),
            state: Mutex::new(State {
                packets: Vec::new(),
                error: None,
                stopped: false,
            }),
            arrived: Condvar::new(),
        });
        let reader = {
            let shared = shared.clone();
            let stop = stop
                .try_clone()
                .map_err(|e| Error::io(subject.clone(), "duplicate an eventfd", e))?;
            std::thread::Builder::new()
                .name(format!("netrig-cap-{ifname}"))
                .spawn(move || read_loop(&shared, stop))
                .map_err(|e| Error::io(subject.clone(), "start the capture reader thread", e))?
        };
        tracing::debug!(%subject, filter = ?options.filter, path = %path.display(), elapsed = ?started.elapsed(), "capture active");
        Ok(Capture {
            ns: ns.clone(),
            ifname: ifname.to_string(),
            path,
            shared: Some(shared),
            stop,
            reader: Some(reader),
        })
    }

    /// The namespace the capture listens in.
    pub(crate) fn namespace(&self) -> &Namespace {
        &self.ns
    }

    /// `lab, node, link` for messages.
    pub(crate) fn subject(&self) -> Subject {
        self.ns.subject().clone().link(&self.ifname)
    }

    /// The `.pcap` file this capture writes.
    pub fn pcap_path(&self) -> &Path {
        &self.path
    }

    /// Reads whatever the kernel has queued now, so that [`Capture::packets`]
    /// includes every frame captured before this call, and flushes the file.
    pub(crate) fn sync(&self) -> Result<()> {
        let mut pipe = lock(&self.shared().pipe);
        drain(&mut pipe, self.shared());
        tracing::debug!(subject = %self.subject(), packets = self.len(), "capture synced");
        self.check_error()
    }

    /// A snapshot of every packet captured until this call.
    pub fn packets(&self) -> Vec<Packet> {
        let _ = self.sync();
        lock(&self.shared().state).packets.clone()
    }

    /// How many packets were captured so far (without syncing).
    pub(crate) fn len(&self) -> usize {
        lock(&self.shared().state).packets.len()
    }

    /// libpcap's counters (received, dropped).
    pub fn stats(&self) -> Result<CaptureStats> {
        let mut pipe = lock(&self.shared().pipe);
        let s = pipe
            .cap
            .stats()
            .map_err(|e| capture_error(&self.subject(), "read capture statistics", e))?;
        Ok(CaptureStats {
            received: s.received,
            dropped: s.dropped,
            if_dropped: s.if_dropped,
        })
    }

    /// Waits until `check` returns `Some` over the packets captured so far, or
    /// `timeout` passes (then `Ok(None)`). `check` sees the whole list each
    /// time a batch arrives; it runs under the capture's lock, so keep it short.
    pub(crate) fn wait_for<R>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&[Packet]) -> Option<R>,
    ) -> Result<Option<R>> {
        let deadline = Instant::now() + timeout;
        let mut synced_at_deadline = false;
        let mut synced_first = false;
        let mut state = lock(&self.shared().state);
        loop {
            if let Some(r) = check(&state.packets) {
                return Ok(Some(r));
            }
            if !synced_first {
                // The frame is usually in the ring already (veth delivery is
                // synchronous): read it on this thread rather than wait for
                // the reader thread to be scheduled.
                synced_first = true;
                drop(state);
                self.sync()?;
                state = lock(&self.shared().state);
                continue;
            }
            if let Some(e) = &state.error {
                return Err(Error::Capture {
                    subject: self.subject(),
                    message: e.clone(),
                });
            }
            let now = Instant::now();
            if now >= deadline || state.stopped {
                if synced_at_deadline || state.stopped {
                    return Ok(None);
                }
                // Last look: frames the kernel holds but the reader has not read yet.
                drop(state);
                self.sync()?;
                synced_at_deadline = true;
                state = lock(&self.shared().state);
                continue;
            }
            state = self
                .shared()
                .arrived
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Runs `f` over the packets captured so far (after a sync), under the lock.
    pub(crate) fn with_packets<R>(&self, f: impl FnOnce(&[Packet]) -> R) -> R {
        let _ = self.sync();
        f(&lock(&self.shared().state).packets)
    }

    /// Stops capturing, flushes the file and returns every packet captured.
    pub fn stop(mut self) -> Result<Vec<Packet>> {
        self.shutdown();
        self.check_error()?;
        Ok(std::mem::take(&mut lock(&self.shared().state).packets))
    }

    fn shared(&self) -> &Shared {
        self.shared
            .as_deref()
            .expect("a capture is only emptied while dropped")
    }

    fn check_error(&self) -> Result<()> {
        match &lock(&self.shared().state).error {
            Some(e) => Err(Error::Capture {
                subject: self.subject(),
                message: e.clone(),
            }),
            None => Ok(()),
        }
    }

    fn shutdown(&mut self) {
        if let Some(reader) = self.reader.take() {
            let one: u64 = 1;
            // SAFETY: writing 8 bytes from a valid u64 to an eventfd we own.
            unsafe { libc::write(self.stop.as_raw_fd(), (&one as *const u64).cast(), 8) };
            let _ = reader.join();
            let mut pipe = lock(&self.shared().pipe);
            drain(&mut pipe, self.shared());
            tracing::debug!(subject = %self.subject(), packets = self.len(), "capture stopped");
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.shutdown();
        // Closing an AF_PACKET socket waits for an RCU grace period (10-30 ms
        // here); the file is flushed already, so let another thread do it.
        if let Some(shared) = self.shared.take() {
            let closer = std::thread::Builder::new()
                .name("netrig-cap-close".into())
                .spawn(move || drop(shared));
            if let Err(e) = closer {
                tracing::debug!(error = %e, "closing the capture on this thread");
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

type Opened = (pcap::Capture<pcap::Active>, pcap::Savefile);

/// Runs inside the node: open, filter, nonblock, savefile.
fn open(
    ifname: &str,
    options: &CaptureOptions,
    path: &Path,
) -> std::result::Result<Opened, (String, pcap::Error)> {
    let err = |what: &str| {
        let what = what.to_string();
        move |e| (what, e)
    };
    let mut cap = pcap::Capture::from_device(ifname)
        .map_err(err("find the device"))?
        .immediate_mode(true)
        .promisc(options.promisc)
        .snaplen(options.snaplen)
        .buffer_size(options.buffer_size)
        .open()
        .map_err(err("open the device"))?;
    if let Some(f) = &options.filter {
        cap.filter(f, true)
            .map_err(err(&format!("install BPF filter {f:?}")))?;
    }
    let cap = cap.setnonblock().map_err(err("set nonblocking mode"))?;
    let save = cap
        .savefile(path)
        .map_err(err(&format!("create {}", path.display())))?;
    Ok((cap, save))
}

/// The reader thread: poll the pcap fd and the stop fd, drain on readiness.
fn read_loop(shared: &Shared, stop: OwnedFd) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let raw = lock(&shared.pipe).cap.as_raw_fd();
    // SAFETY: the pcap handle (and so its fd) lives in `shared` for as long as this thread runs.
    let pcap_fd = unsafe { BorrowedFd::borrow_raw(raw) };
    loop {
        let mut fds = [
            PollFd::new(pcap_fd, PollFlags::POLLIN),
            PollFd::new(stop.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => {
                fail(shared, format!("poll the capture fd: {e}"));
                return;
            }
        }
        let stopping = fds[1].revents().is_some_and(|r| !r.is_empty());
        let pcap_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
        if pcap_ready || stopping {
            let mut pipe = lock(&shared.pipe);
            if !drain(&mut pipe, shared) {
                return;
            }
        }
        if stopping {
            lock(&shared.state).stopped = true;
            shared.arrived.notify_all();
            return;
        }
        let broken = PollFlags::POLLERR | PollFlags::POLLHUP | PollFlags::POLLNVAL;
        if fds[0].revents().is_some_and(|r| r.intersects(broken)) {
            // Without this the loop would spin: poll keeps reporting the error.
            fail(
                shared,
                "the interface went away or down while capturing".to_string(),
            );
            return;
        }
    }
}

fn fail(shared: &Shared, message: String) {
    let mut state = lock(&shared.state);
    state.error = Some(message);
    state.stopped = true;
    shared.arrived.notify_all();
}

/// Reads every queued frame, writes and decodes it; returns false on a fatal error.
fn drain(pipe: &mut Pipe, shared: &Shared) -> bool {
    let mut batch = Vec::new();
    let mut ok = true;
    let Pipe {
        cap,
        save,
        mac,
        interface,
        next_index,
    } = pipe;
    loop {
        match cap.next_packet() {
            Ok(p) => {
                save.write(&p);
                let ts = p.header.ts;
                let time = UNIX_EPOCH
                    + Duration::new(ts.tv_sec as u64, (ts.tv_usec as u32).saturating_mul(1000));
                batch.push(decode(
                    *mac,
                    interface,
                    next_index,
                    p.data,
                    time,
                    p.header.len,
                ));
            }
            Err(pcap::Error::TimeoutExpired) => break,
            Err(pcap::Error::NoMorePackets) => break,
            Err(e) => {
                ok = false;
                fail(shared, format!("read a frame: {e}"));
                break;
            }
        }
    }
    if let Err(e) = save.flush() {
        tracing::warn!(interface = %interface, error = %e, "could not flush the pcap file");
    }
    if !batch.is_empty() {
        tracing::trace!(interface = %interface, frames = batch.len(), "capture batch");
        lock(&shared.state).packets.extend(batch);
        shared.arrived.notify_all();
    }
    ok
}

fn decode(
    mac: Option<Mac>,
    interface: &str,
    next_index: &mut u64,
    data: &[u8],
    time: SystemTime,
    wire_len: u32,
) -> Packet {
    let mut p = Packet::decode_at(data, time, wire_len);
    p.index = *next_index;
    *next_index += 1;
    p.interface = interface.to_string();
    p.direction = mac.and_then(|mac| {
        if p.eth_src == mac {
            Some(Direction::Out)
        } else if p.eth_dst == mac || p.eth_dst[0] & 1 == 1 {
            Some(Direction::In)
        } else {
            None
        }
    });
    p
}

/// The MAC of `ifname` in the calling thread's namespace (to tell a frame's
/// direction), read through an ioctl.
fn own_mac(ifname: &str) -> Option<Mac> {
    nix::ifaddrs::getifaddrs().ok()?.find_map(|ifa| {
        if ifa.interface_name != ifname {
            return None;
        }
        let addr = ifa.address?;
        let link = addr.as_link_addr()?;
        link.addr()
    })
}
