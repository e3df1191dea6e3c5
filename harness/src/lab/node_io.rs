//! What a node does: commands and sysctls inside it, captures on its
//! interfaces, probes, servers and raw frames from it, its conntrack table
//! (the work itself is in the system layer, on the node's namespace).

use std::ffi::OsStr;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::Node;
use crate::capture::{Capture, CaptureOptions};
use crate::conntrack::ConntrackTable;
use crate::error::Result;
use crate::process::NodeCommand;
use crate::traffic::{PingOutcome, TcpEchoServer, TcpOutcome, ToSocket, UdpEchoServer, UdpOutcome};

impl Node<'_> {
    /// A command that will run inside the namespace (entered with `setns`
    /// before `exec`); it keeps the namespace alive until it is dropped.
    /// In a node where the lab runs ufw or firewalld, it runs confined as
    /// they do (the lab's `/etc/ufw` or `/etc/firewalld` and `/run`, the
    /// node's own D-Bus): `firewall-cmd` there talks to the node's firewalld.
    pub fn command(&self, program: impl AsRef<OsStr>) -> NodeCommand {
        crate::confined::as_recorded(self.ns(), self.ns().command(program))
    }

    /// Runs `f` on a new thread inside the namespace and returns its result.
    ///
    /// Use it to create sockets, netlink connections and pcap handles: a
    /// socket stays in the namespace it was created in, whichever thread
    /// uses it later. The calling thread never changes namespace. Panics in
    /// `f` propagate.
    ///
    /// ```no_run
    /// # fn demo(lab: &netrig::Lab) -> netrig::Result<()> {
    /// use std::net::{TcpStream, UdpSocket};
    /// use std::time::Duration;
    /// let a = lab.node("a")?;
    /// let dst = "10.0.0.2:7000".parse().unwrap();
    /// let stream = a.run(move || TcpStream::connect_timeout(&dst, Duration::from_secs(1)))?;
    /// let socket = a.run(|| UdpSocket::bind("10.0.0.1:0"))?;
    /// # Ok(()) }
    /// ```
    pub fn run<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        self.ns().run(f)
    }

    /// Reads a sysctl inside the namespace (trimmed).
    pub fn sysctl_get(&self, key: &str) -> Result<String> {
        self.ns().sysctl_get(key)
    }

    /// Writes a sysctl inside the namespace (`net.ipv4.ip_forward` or
    /// `net/ipv4/conf/br-x.y/rp_filter`).
    pub fn sysctl_set(&self, key: &str, value: &str) -> Result<()> {
        self.ns().sysctl_set(key, value)
    }

    /// Starts capturing every frame on `ifname`. Returns once the capture is active.
    pub fn capture(&self, ifname: &str) -> Result<Capture> {
        self.ns().capture(ifname)
    }

    /// Starts capturing on `ifname` with `options` (a BPF filter such as
    /// `CaptureOptions::filter("udp port 53")`, snaplen, buffer size).
    /// Returns once the capture is active.
    pub fn capture_with(&self, ifname: &str, options: CaptureOptions) -> Result<Capture> {
        self.ns().capture_with(ifname, options)
    }

    /// The node's conntrack table now.
    ///
    /// ```no_run
    /// # fn demo(lab: &netrig::Lab) -> netrig::Result<()> {
    /// let table = lab.node("router")?.conntrack()?;
    /// let e = table.expect("udp", "10.1.0.2", "10.1.0.1:8080")?;
    /// assert!(e.is_dnat());
    /// # Ok(()) }
    /// ```
    pub fn conntrack(&self) -> Result<ConntrackTable> {
        self.ns().conntrack()
    }

    /// Sends one ICMP echo request to `dst` (ICMPv6 for an IPv6 address)
    /// from a raw socket inside the node and waits up to `timeout`.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// # fn demo(lab: &netrig::Lab) -> netrig::Result<()> {
    /// let a = lab.node("a")?;
    /// let out = a.ping("10.0.0.2".parse().unwrap(), Duration::from_secs(1))?;
    /// assert!(matches!(out, netrig::PingOutcome::Reply { .. }));
    /// let out = a.ping("2001:db8::2".parse().unwrap(), Duration::from_secs(1))?;
    /// assert!(matches!(out, netrig::PingOutcome::Reply { .. }));
    /// # Ok(()) }
    /// ```
    pub fn ping(&self, dst: IpAddr, timeout: Duration) -> Result<PingOutcome> {
        self.ns().ping(dst, timeout)
    }

    /// Tries to connect to `dst` from inside the node and reports the outcome;
    /// the connection, if made, is closed again.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use netrig::TcpOutcome;
    /// # fn demo(lab: &netrig::Lab) -> netrig::Result<()> {
    /// let out = lab.node("a")?.tcp_connect("10.0.0.2:22", Duration::from_millis(300))?;
    /// assert_eq!(out, TcpOutcome::Refused);
    /// # Ok(()) }
    /// ```
    pub fn tcp_connect(&self, dst: impl ToSocket, timeout: Duration) -> Result<TcpOutcome> {
        self.ns().tcp_connect(dst, timeout)
    }

    /// Like [`Node::tcp_connect`], from the source address `src` (one of
    /// this node's addresses, or any with `ip_nonlocal_bind`): what a
    /// rule matching `-s` sees, without a raw socket in the test.
    pub fn tcp_connect_from(
        &self,
        src: IpAddr,
        dst: impl ToSocket,
        timeout: Duration,
    ) -> Result<TcpOutcome> {
        self.ns().tcp_connect_from(src, dst, timeout)
    }

    /// Connects to `dst` from inside the node and returns the stream (a
    /// failure to connect is an error naming the outcome). For the fidelity
    /// unit tests; users make sockets with [`Node::run`].
    #[cfg(test)]
    pub(crate) fn tcp_stream(
        &self,
        dst: impl ToSocket,
        timeout: Duration,
    ) -> Result<std::net::TcpStream> {
        self.ns().tcp_stream(dst, timeout)
    }

    /// Starts a TCP echo server bound to `bind` (`"0.0.0.0:7000"`) inside the
    /// node; it is listening when this returns, and stops when dropped.
    pub fn tcp_echo_server(&self, bind: impl ToSocket) -> Result<TcpEchoServer> {
        self.ns().tcp_echo_server(bind)
    }

    /// Sends one datagram to `dst` from an ephemeral port; returns the source address used.
    pub fn udp_send(&self, dst: impl ToSocket, payload: &[u8]) -> Result<SocketAddr> {
        self.ns().udp_send(dst, payload)
    }

    /// Sends one datagram to `dst` from the source `src` (`"10.0.0.5:0"` for
    /// an ephemeral port, or a fixed one); returns the source address used.
    pub fn udp_send_from(
        &self,
        src: impl ToSocket,
        dst: impl ToSocket,
        payload: &[u8],
    ) -> Result<SocketAddr> {
        self.ns().udp_send_from(src, dst, payload)
    }

    /// Sends `payload` to `dst` and waits up to `timeout` for one reply.
    pub fn udp_request(
        &self,
        dst: impl ToSocket,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<UdpOutcome> {
        self.ns().udp_request(dst, payload, timeout)
    }

    /// Starts a UDP echo server bound to `bind` inside the node; it is bound
    /// when this returns, and stops when dropped.
    pub fn udp_echo_server(&self, bind: impl ToSocket) -> Result<UdpEchoServer> {
        self.ns().udp_echo_server(bind)
    }

    /// Injects one raw frame on `ifname`, as is: build it with a packet
    /// library (here etherparse), its MACs from [`Node::links`].
    ///
    /// ```no_run
    /// # fn demo(lab: &netrig::Lab) -> netrig::Result<()> {
    /// let (a, b) = (lab.node("a")?, lab.node("b")?);
    /// let mac = |n: &netrig::Node<'_>| -> netrig::Result<netrig::Mac> {
    ///     Ok(n.links()?.into_iter().find(|l| l.name == "eth0").and_then(|l| l.mac).unwrap())
    /// };
    /// let frame = etherparse::PacketBuilder::ethernet2(mac(&a)?, mac(&b)?)
    ///     .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
    ///     .udp(5555, 7000);
    /// let mut bytes = Vec::new();
    /// frame.write(&mut bytes, b"x").unwrap();
    /// a.inject("eth0", &bytes)?;
    /// # Ok(()) }
    /// ```
    pub fn inject(&self, ifname: &str, frame: &[u8]) -> Result<()> {
        self.ns().inject(ifname, frame)
    }
}
