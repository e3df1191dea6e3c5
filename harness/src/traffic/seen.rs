//! The "what did you see" question netrig's servers answer in-band: a probe
//! sends [`REQUEST`]; the server answers `netrig-reach SRC DST` with the
//! peer and local address of that connection or datagram, so a probe learns
//! how NAT rewrote it. The matrix's servers answer at once; the echo servers
//! a topology starts answer the request instead of echoing it, so a matrix
//! probe to a lab's own server sees NAT too. Pure.

use std::net::{IpAddr, SocketAddr};

/// The request a probe sends.
pub(crate) const REQUEST: &[u8] = b"netrig-reach\n";
/// The prefix of every answer.
const ANSWER: &str = "netrig-reach";

/// The answer to a probe from `peer` received on `local` (an IPv4 peer of
/// a dual-stack `[::]` socket, `::ffff:10.0.0.1`, is answered as `10.0.0.1`).
pub(crate) fn answer(peer: SocketAddr, local: SocketAddr) -> Vec<u8> {
    format!(
        "{ANSWER} {} {}\n",
        peer.ip().to_canonical(),
        local.ip().to_canonical()
    )
    .into_bytes()
}

/// Parses an answer into (seen source, seen destination).
pub(crate) fn parse_answer(bytes: &[u8]) -> Option<(IpAddr, IpAddr)> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut words = text.split_whitespace();
    (words.next()? == ANSWER).then_some(())?;
    Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
}

/// What an echo server sends back for `data` received from `peer` on
/// `local`: the answer when `data` is the request, else `data` itself.
pub(crate) fn echo_reply<'a>(
    data: &'a [u8],
    peer: SocketAddr,
    local: Option<SocketAddr>,
) -> std::borrow::Cow<'a, [u8]> {
    match local {
        Some(local) if data == REQUEST => answer(peer, local).into(),
        _ => data.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_echo_server_answers_the_request_and_echoes_the_rest() {
        let peer: SocketAddr = "198.51.100.1:40000".parse().unwrap();
        let local: SocketAddr = "198.51.100.10:80".parse().unwrap();
        let reply = echo_reply(REQUEST, peer, Some(local));
        assert_eq!(
            parse_answer(&reply),
            Some((peer.ip(), local.ip())),
            "{reply:?}"
        );
        assert_eq!(&*echo_reply(b"hello", peer, Some(local)), b"hello");
        assert_eq!(&*echo_reply(REQUEST, peer, None), REQUEST);
    }
}
