//! Holding the host ports dockerd keeps for itself while the userland proxy
//! is off ([`PortReservation`]): a socket bound in node `host` per
//! reservation, kept as long as the lab runs.

use std::os::fd::OwnedFd;

use crate::docker::PortReservation;
use crate::error::{Error, Result};
use crate::namespace::Namespace;
use crate::net::Proto;

/// Binds every reservation inside `host`, all from one thread inside it;
/// the sockets are its fds.
pub(crate) fn hold(host: &Namespace, list: &[PortReservation]) -> Result<Vec<OwnedFd>> {
    if list.is_empty() {
        return Ok(Vec::new());
    }
    let bound = host.run(|| {
        list.iter()
            .map(|r| match r.proto {
                // IPv6-only, as dockerd binds `[::]` beside `0.0.0.0`.
                Proto::Tcp => crate::proxy::bind_tcp(r.addr).map(OwnedFd::from),
                Proto::Udp => crate::proxy::bind_udp(r.addr).map(OwnedFd::from),
            })
            .collect::<Vec<_>>()
    })?;
    list.iter()
        .zip(bound)
        .map(|(r, fd)| {
            fd.map_err(|e| {
                Error::io(
                    host.subject().clone(),
                    format!(
                        "hold {} {} for dockerd (userland proxy off)",
                        r.proto, r.addr
                    ),
                    e,
                )
            })
        })
        .collect()
}
