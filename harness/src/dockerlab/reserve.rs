//! Holding the host ports dockerd keeps for itself while the userland proxy
//! is off ([`PortReservation`]): a socket bound in node `host` per
//! reservation, kept as long as the `DockerLab` runs.

use std::net::{TcpListener, UdpSocket};
use std::os::fd::OwnedFd;

use crate::docker::PortReservation;
use crate::error::{Error, Result};
use crate::namespace::Namespace;
use crate::net::Proto;

/// Binds every reservation inside `host`; the sockets are its fds.
pub(crate) fn hold(host: &Namespace, list: &[PortReservation]) -> Result<Vec<OwnedFd>> {
    let mut out = Vec::new();
    for r in list {
        let addr = r.addr;
        let bound = host.run(move || match r.proto {
            Proto::Tcp => TcpListener::bind(addr).map(OwnedFd::from),
            Proto::Udp => UdpSocket::bind(addr).map(OwnedFd::from),
        })?;
        let fd = bound.map_err(|e| {
            Error::io(
                host.subject().clone(),
                format!("hold {} {addr} for dockerd (userland proxy off)", r.proto),
                e,
            )
        })?;
        out.push(fd);
    }
    Ok(out)
}
