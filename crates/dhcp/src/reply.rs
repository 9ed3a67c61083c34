//! Building a reply: where it goes (RFC 2131 §4.1) and which options it
//! carries, in which order.

use std::net::Ipv4Addr;

use tandem_dhcp_wire::options::SERVER_OWNED;
use tandem_dhcp_wire::{code, MessageType, Options, Packet};

use crate::config::OptionSet;

/// Where the shell must send a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// To the relay agent at `giaddr`, server port.
    Relay(Ipv4Addr),
    /// To a client that has an address (`ciaddr`), client port.
    Unicast(Ipv4Addr),
    /// To 255.255.255.255 on the ingress interface, client port.
    Broadcast,
    /// To a client without an address yet: `ip` is not in its ARP cache, so
    /// the shell must tell the kernel `ip` is at `hw` (or broadcast).
    UnicastHw { ip: Ipv4Addr, hw: [u8; 6] },
}

impl Destination {
    pub fn for_reply(req: &Packet, yiaddr: Ipv4Addr, nak: bool) -> Destination {
        if !req.giaddr.is_unspecified() {
            Destination::Relay(req.giaddr)
        } else if nak {
            Destination::Broadcast
        } else if !req.ciaddr.is_unspecified() {
            Destination::Unicast(req.ciaddr)
        } else if req.broadcast() || yiaddr.is_unspecified() {
            Destination::Broadcast
        } else if req.htype == 1 && req.hlen == 6 {
            let mut hw = [0u8; 6];
            hw.copy_from_slice(&req.chaddr[..6]);
            Destination::UnicastHw { ip: yiaddr, hw }
        } else {
            Destination::Broadcast
        }
    }
}

/// A reply ready to encode and send.
#[derive(Debug, Clone)]
pub struct Reply {
    pub packet: Packet,
    pub dest: Destination,
    /// The client's maximum DHCP message size.
    pub max_len: usize,
}

impl Reply {
    /// The reply's message type.
    pub fn message_type(&self) -> Option<MessageType> {
        self.packet.message_type().and_then(MessageType::from_code)
    }
}

/// Options always offered when configured, requested or not: what every
/// client needs to use its address and resolve names.
const ALWAYS: [u8; 4] = [
    code::SUBNET_MASK,
    code::ROUTERS,
    code::DNS_SERVERS,
    code::DOMAIN_NAME,
];

/// The reply's options: 53 and 54 first, the lease times, then the
/// client's parameter request list in its order, then the options every
/// client needs, and the relay agent information last (RFC 3046 §2.2).
pub fn build_options(
    mt: MessageType,
    server_id: Ipv4Addr,
    lease_time: Option<u32>,
    set: &OptionSet,
    req: &Packet,
) -> Options {
    let mut o = Options::new();
    o.set(code::MESSAGE_TYPE, vec![mt as u8]);
    o.set(code::SERVER_ID, server_id.octets().to_vec());
    if let Some(t) = lease_time {
        o.set(code::LEASE_TIME, t.to_be_bytes().to_vec());
        o.set(code::RENEWAL_TIME, (t / 2).to_be_bytes().to_vec());
        // 7/8 of the lease, as RFC 2131 §4.4.5 suggests.
        let t2 = (u64::from(t) * 7 / 8) as u32;
        o.set(code::REBINDING_TIME, t2.to_be_bytes().to_vec());
    }
    let add = |o: &mut Options, c: u8| {
        if SERVER_OWNED.contains(&c) || o.get(c).is_some() {
            return;
        }
        if let Some(v) = set.get(c) {
            o.set(c, v.to_vec());
        }
    };
    match req.options.get(code::PARAMETER_REQUEST_LIST) {
        Some(prl) => {
            for &c in prl {
                add(&mut o, c);
            }
            for c in ALWAYS {
                add(&mut o, c);
            }
            // A reserved host name is part of the reservation.
            add(&mut o, code::HOST_NAME);
        }
        None => {
            for (c, _) in set.iter() {
                add(&mut o, c);
            }
        }
    }
    if let Some(rai) = req.options.get(code::RELAY_AGENT_INFO) {
        o.set(code::RELAY_AGENT_INFO, rai.to_vec());
    }
    o
}
