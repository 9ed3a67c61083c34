//! `tandem-dhcp-wire`: DHCPv4 bytes.
//!
//! This crate owns the message format (RFC 2131 §2, with option overload and
//! RFC 3396 long options, [`packet`]) and the option registry: names, types
//! and the text ↔ wire conversions of values ([`options`]). It is pure: no
//! sockets, no clock.
//!
//! Why not dhcproto: its owned decoder silently stops at the first malformed
//! option (option 53 can vanish and a DISCOVER reads as BOOTP), it has no
//! option overload, codes option 108 as 106, and writes options in code order
//! only, while a server must put them in the client's requested order and
//! spill into `file`/`sname`. What we need is a small codec plus a registry,
//! so it is written here (see ARCHITECTURE.md).

pub mod options;
pub mod packet;

pub use options::{Kind, OptionDef, Registry, Route};
pub use packet::{Encoded, Options, Packet, ParseError};

/// Option codes the server itself reads or writes.
pub mod code {
    pub const PAD: u8 = 0;
    pub const SUBNET_MASK: u8 = 1;
    pub const ROUTERS: u8 = 3;
    pub const DNS_SERVERS: u8 = 6;
    pub const HOST_NAME: u8 = 12;
    pub const DOMAIN_NAME: u8 = 15;
    pub const BROADCAST_ADDRESS: u8 = 28;
    pub const VENDOR_ENCAPSULATED: u8 = 43;
    pub const REQUESTED_ADDRESS: u8 = 50;
    pub const LEASE_TIME: u8 = 51;
    pub const OVERLOAD: u8 = 52;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const SERVER_ID: u8 = 54;
    pub const PARAMETER_REQUEST_LIST: u8 = 55;
    pub const MESSAGE: u8 = 56;
    pub const MAX_MESSAGE_SIZE: u8 = 57;
    pub const RENEWAL_TIME: u8 = 58;
    pub const REBINDING_TIME: u8 = 59;
    pub const VENDOR_CLASS: u8 = 60;
    pub const CLIENT_ID: u8 = 61;
    pub const USER_CLASS: u8 = 77;
    pub const FQDN: u8 = 81;
    pub const RELAY_AGENT_INFO: u8 = 82;
    pub const CLASSLESS_ROUTES: u8 = 121;
    pub const MS_CLASSLESS_ROUTES: u8 = 249;
    pub const END: u8 = 255;
}

/// DHCP message types (option 53, RFC 2132 §9.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    Discover = 1,
    Offer = 2,
    Request = 3,
    Decline = 4,
    Ack = 5,
    Nak = 6,
    Release = 7,
    Inform = 8,
}

impl MessageType {
    pub fn from_code(c: u8) -> Option<MessageType> {
        Some(match c {
            1 => MessageType::Discover,
            2 => MessageType::Offer,
            3 => MessageType::Request,
            4 => MessageType::Decline,
            5 => MessageType::Ack,
            6 => MessageType::Nak,
            7 => MessageType::Release,
            8 => MessageType::Inform,
            _ => return None,
        })
    }

    /// ISC's log word: `DHCPDISCOVER`, `DHCPACK`, ...
    pub fn log_name(self) -> &'static str {
        match self {
            MessageType::Discover => "DHCPDISCOVER",
            MessageType::Offer => "DHCPOFFER",
            MessageType::Request => "DHCPREQUEST",
            MessageType::Decline => "DHCPDECLINE",
            MessageType::Ack => "DHCPACK",
            MessageType::Nak => "DHCPNAK",
            MessageType::Release => "DHCPRELEASE",
            MessageType::Inform => "DHCPINFORM",
        }
    }
}
