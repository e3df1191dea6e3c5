//! Outcomes by name, for logs and messages: `refused`, `no answer`,
//! `reply from 10.0.0.2:7000 (5 bytes)` — never a `Debug` dump or a
//! `Discriminant(1)`.

use std::fmt;

use super::{PingOutcome, TcpOutcome, UdpOutcome};

impl fmt::Display for TcpOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TcpOutcome::Connected(local) => write!(f, "connected (from {local})"),
            TcpOutcome::Refused => f.write_str("refused"),
            TcpOutcome::NoAnswer => f.write_str("no answer"),
            TcpOutcome::Unreachable(e) => write!(f, "unreachable ({e})"),
        }
    }
}

impl fmt::Display for UdpOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UdpOutcome::Reply { data, from } => {
                write!(f, "reply from {from} ({} bytes)", data.len())
            }
            UdpOutcome::Refused => f.write_str("refused"),
            UdpOutcome::NoAnswer => f.write_str("no answer"),
            UdpOutcome::Unreachable(e) => write!(f, "unreachable ({e})"),
        }
    }
}

impl fmt::Display for PingOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PingOutcome::Reply { from, rtt, ttl } => {
                write!(f, "reply from {from} (ttl {ttl}, rtt {rtt:?})")
            }
            PingOutcome::Error {
                from,
                icmp_type,
                code,
            } => write!(f, "ICMP error type {icmp_type} code {code} from {from}"),
            PingOutcome::NoAnswer => f.write_str("no answer"),
            PingOutcome::Unreachable(e) => write!(f, "unreachable ({e})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each outcome prints by name, with its addresses.
    #[test]
    fn outcomes_print_by_name() {
        let from = "10.0.0.2:7000".parse().unwrap();
        assert_eq!(
            UdpOutcome::Reply {
                data: b"hello".to_vec(),
                from
            }
            .to_string(),
            "reply from 10.0.0.2:7000 (5 bytes)"
        );
        assert_eq!(UdpOutcome::NoAnswer.to_string(), "no answer");
        assert_eq!(TcpOutcome::Refused.to_string(), "refused");
        assert_eq!(
            TcpOutcome::Connected(from).to_string(),
            "connected (from 10.0.0.2:7000)"
        );
        assert_eq!(
            PingOutcome::Unreachable("no route".into()).to_string(),
            "unreachable (no route)"
        );
    }
}
