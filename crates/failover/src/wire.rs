//! The failover protocol's bytes, as ISC dhcpd 4.4 reads and writes them.
//!
//! This module owns:
//!
//! - the 12-byte header ([`HEADER_LEN`]): message length (header included),
//!   message type, payload offset, sender's time and transaction id, all
//!   big-endian;
//! - the message types 1..=12 ([`MessageType`]) and the option codes 1..=29
//!   ([`OptionCode`]) with ISC's wire type for each ([`WireType`]);
//! - the values carried in options: failover states ([`FailoverState`],
//!   with ISC's recover-wait = 254 and unknown-state = 0), reject reasons
//!   ([`RejectReason`]), server flags and IP flags;
//! - a typed [`Message`] (header fields plus [`FailoverOption`]s in wire
//!   order) with accessors, [`Message::encode`] and [`Message::decode`];
//! - ISC's per-message allow-list ([`allowed`]) and the decoder mode that
//!   drops what it does not allow ([`DecodeMode::IscAllowList`]);
//! - the stream [`Framer`] (in `framer.rs`), the builders for every message
//!   ISC sends and the BNDUPD ↔ lease conversion (in `build.rs`).
//!
//! # Decoding rules
//!
//! They are ISC's (`dhcp_failover_link_signal` and `do_a_failover_option`
//! in `server/failover.c`, summarised in dhcp-anchors.md §1.3), because a
//! message ISC would refuse must not be one we accept silently and a message
//! ISC accepts must not close our connection:
//!
//! 1. length < 12 or > 2048 → error (ISC drops the connection);
//! 2. a message type outside 1..=12 → error;
//! 3. the payload offset: bytes between 12 and the offset are skipped;
//! 4. an option header or option data that runs past the message → error;
//! 5. an unknown option code (0 or > 29) → skipped;
//! 6. message-digest (17) must end exactly at the end of the message → else
//!    error; its content is ignored (it is kept only by
//!    [`DecodeMode::KeepAll`], so a round trip preserves it);
//! 7. with [`DecodeMode::IscAllowList`], an option not in ISC's allow-list
//!    for the message type is skipped silently, *before* the next two
//!    checks, as ISC does (so a duplicated or mis-sized option that ISC
//!    throws away anyway is no error there);
//! 8. an option kept twice in one message → error;
//! 9. a fixed-size option (u8, u16, u32, IPv4) of another length → error;
//! 10. a kept DDNS option (9) → error: ISC declares it with a fixed size of
//!     zero and then cannot store even an empty one, so any DDNS option in a
//!     BNDUPD or BNDACK drops ISC's connection (dhcp-anchors.md §1.11).
//!
//! Where we are stricter than ISC, because ISC's own reading there is
//! undefined or would misread the stream: a payload offset below 12 or past
//! the message is an error (ISC does not check it), and a message type of 0
//! or > 12 is an error even without options (ISC only notices it when it
//! reads the first option, and otherwise ignores the message).
//!
//! Rule 6 is the draft's and the research note's, and ISC's reader has the
//! code for it, but ISC 4.4.3's option table declares message-digest as
//! plain bytes, so that code never runs: dhcpd skips a digest wherever it
//! is, as an option of no message's allow-list. We keep the check; no ISC
//! server sends a digest, so it costs no interoperability.
//!
//! Every error is a [`DecodeError`] naming the option and its offset in the
//! message; decoding never panics (property tests and the
//! `failover_message` fuzz target check it).

use std::borrow::Cow;
use std::fmt;
use std::net::Ipv4Addr;

use thiserror::Error;

mod build;
mod framer;

pub use build::{
    bndack, bndupd, bndupd_tandem, connect, connectack, contact, disconnect, is_tandem_vendor,
    lease_from_bndupd, lease_time_from_wire, lease_time_to_wire, poolreq, poolresp, state,
    transmit_state, upddone, updreq, updreqall, BindingError, BindingUpdate, Connect, ConnectAck,
    TandemExt, ISC_NEVER, TANDEM_VENDOR_CLASS,
};
pub use framer::Framer;

/// Size of the fixed header; ISC always writes it as the payload offset.
pub const HEADER_LEN: usize = 12;
/// ISC's `DHCP_FAILOVER_MAX_MESSAGE_SIZE`: the largest message, header
/// included, that either side may send.
pub const MAX_MESSAGE_LEN: usize = 2048;
/// The IANA port for "dhcp-failover", ISC's default for both `port` and
/// `peer port`.
pub const DEFAULT_PORT: u16 = 647;
/// The protocol version ISC sends in CONNECT and CONNECTACK.
pub const PROTOCOL_VERSION: u8 = 1;

/// The twelve message types of draft-12 §6.1 (ISC `FTM_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageType {
    PoolReq = 1,
    PoolResp = 2,
    BndUpd = 3,
    BndAck = 4,
    Connect = 5,
    ConnectAck = 6,
    UpdReqAll = 7,
    UpdDone = 8,
    UpdReq = 9,
    State = 10,
    Contact = 11,
    Disconnect = 12,
}

impl MessageType {
    /// Every type, in code order.
    pub const ALL: [MessageType; 12] = [
        MessageType::PoolReq,
        MessageType::PoolResp,
        MessageType::BndUpd,
        MessageType::BndAck,
        MessageType::Connect,
        MessageType::ConnectAck,
        MessageType::UpdReqAll,
        MessageType::UpdDone,
        MessageType::UpdReq,
        MessageType::State,
        MessageType::Contact,
        MessageType::Disconnect,
    ];

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<MessageType> {
        match code {
            1..=12 => Some(MessageType::ALL[usize::from(code) - 1]),
            _ => None,
        }
    }

    /// The draft's name for the message (POOLREQ, BNDUPD, …).
    pub fn name(self) -> &'static str {
        match self {
            MessageType::PoolReq => "POOLREQ",
            MessageType::PoolResp => "POOLRESP",
            MessageType::BndUpd => "BNDUPD",
            MessageType::BndAck => "BNDACK",
            MessageType::Connect => "CONNECT",
            MessageType::ConnectAck => "CONNECTACK",
            MessageType::UpdReqAll => "UPDREQALL",
            MessageType::UpdDone => "UPDDONE",
            MessageType::UpdReq => "UPDREQ",
            MessageType::State => "STATE",
            MessageType::Contact => "CONTACT",
            MessageType::Disconnect => "DISCONNECT",
        }
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How an option's data is laid out on the wire, as ISC's option table
/// (`ft_options` in `server/stables.c`) declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireType {
    /// One byte.
    U8,
    /// Two bytes, big-endian.
    U16,
    /// Four bytes, big-endian.
    U32,
    /// Four bytes of IPv4 address.
    Ipv4,
    /// Any number of bytes.
    Bytes,
    /// Any number of bytes meant as text (only `message`).
    Text,
    /// The DDNS option, which ISC cannot parse (see the module docs).
    Ddns,
}

impl WireType {
    /// The exact data length ISC requires, for the fixed-size types.
    pub fn fixed_len(self) -> Option<usize> {
        match self {
            WireType::U8 => Some(1),
            WireType::U16 => Some(2),
            WireType::U32 | WireType::Ipv4 => Some(4),
            WireType::Bytes | WireType::Text | WireType::Ddns => None,
        }
    }
}

/// Declares the option codes once and derives from the one list: the
/// [`OptionCode`] enum with names and wire types, and the typed
/// [`FailoverOption`] with its encoder and decoder.
macro_rules! failover_options {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $name:literal, $wire:ident, $ty:ty; )*) => {
        /// The option codes of draft-12 §12 as ISC ≥ 3.1 numbers them
        /// (`FTO_*` in `includes/failover.h`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum OptionCode {
            $( $(#[$doc])* $variant = $code, )*
        }

        impl OptionCode {
            /// Every code, in code order.
            pub const ALL: [OptionCode; 29] = [ $( OptionCode::$variant, )* ];

            pub fn code(self) -> u16 {
                self as u16
            }

            pub fn from_code(code: u16) -> Option<OptionCode> {
                match code {
                    $( $code => Some(OptionCode::$variant), )*
                    _ => None,
                }
            }

            /// The draft's (and ISC's option table's) name for the option.
            pub fn name(self) -> &'static str {
                match self {
                    $( OptionCode::$variant => $name, )*
                }
            }

            pub fn wire_type(self) -> WireType {
                match self {
                    $( OptionCode::$variant => WireType::$wire, )*
                }
            }

            /// The bit ISC uses for the option in its presence and
            /// allow-list masks (`FTB_*`): bit number = option code.
            fn bit(self) -> u32 {
                1 << (self as u32)
            }
        }

        /// One option with its value, typed by its code. Byte strings are
        /// kept as bytes: ISC treats every one of them as opaque, and text
        /// is shown with [`Message::message_text`].
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum FailoverOption {
            $( $(#[$doc])* $variant($ty), )*
        }

        impl FailoverOption {
            pub fn code(&self) -> OptionCode {
                match self {
                    $( FailoverOption::$variant(_) => OptionCode::$variant, )*
                }
            }

            /// Appends the option's data (not its code and length).
            fn put_data(&self, out: &mut Vec<u8>) {
                match self {
                    $( FailoverOption::$variant(v) => WireValue::put(v, out), )*
                }
            }

            fn data_len(&self) -> usize {
                match self {
                    $( FailoverOption::$variant(v) => WireValue::len(v), )*
                }
            }

            /// Reads the data of a known option whose length has already
            /// been checked against [`WireType::fixed_len`].
            fn from_data(code: OptionCode, data: &[u8]) -> FailoverOption {
                match code {
                    $( OptionCode::$variant => FailoverOption::$variant(WireValue::get(data)), )*
                }
            }
        }
    };
}

failover_options! {
    /// Leases queued for the peer in answer to a POOLREQ.
    AddressesTransferred = 1, "addresses-transferred", U32, u32;
    AssignedIpAddress = 2, "assigned-IP-address", Ipv4, Ipv4Addr;
    /// A binding state code (`tandem_dhcp::BindingState`); kept raw so an
    /// unknown code can be answered rather than refused on the wire.
    BindingStatus = 3, "binding-status", U8, u8;
    /// The client's option 61 value.
    ClientIdentifier = 4, "client-identifier", Bytes, Vec<u8>;
    /// Hardware type byte followed by the hardware address (ISC's
    /// `hardware_addr` buffer).
    ClientHardwareAddress = 5, "client-hardware-address", Bytes, Vec<u8>;
    ClientLastTransactionTime = 6, "client-last-transaction-time", U32, u32;
    ClientReplyOptions = 7, "client-reply-options", Bytes, Vec<u8>;
    ClientRequestOptions = 8, "client-request-options", Bytes, Vec<u8>;
    /// Never sent by tandem: ISC cannot parse it (see the module docs).
    Ddns = 9, "DDNS", Ddns, Vec<u8>;
    DelayedService = 10, "delayed-service", U8, u8;
    /// ISC's table declares it as bytes of any length; its CONNECT handler
    /// then refuses anything but 32 bytes (reject reason 18).
    HashBucketAssignment = 11, "hash-bucket-assignment", Bytes, Vec<u8>;
    IpFlags = 12, "IP-flags", U16, u16;
    LeaseExpirationTime = 13, "lease-expiration-time", U32, u32;
    MaxUnackedBndupd = 14, "max-unacked-bndupd", U32, u32;
    /// Maximum client lead time, seconds.
    Mclt = 15, "MCLT", U32, u32;
    Message = 16, "message", Text, Vec<u8>;
    MessageDigest = 17, "message-digest", Bytes, Vec<u8>;
    PotentialExpirationTime = 18, "potential-expiration-time", U32, u32;
    /// Seconds of silence after which the sender drops the connection.
    ReceiveTimer = 19, "receive-timer", U32, u32;
    ProtocolVersion = 20, "protocol-version", U8, u8;
    RejectReason = 21, "reject-reason", U8, u8;
    RelationshipName = 22, "relationship-name", Bytes, Vec<u8>;
    ServerFlags = 23, "server-flags", U8, u8;
    /// A failover state code ([`FailoverState`]), kept raw for the same
    /// reason as the binding status.
    ServerState = 24, "server-state", U8, u8;
    StartTimeOfState = 25, "start-time-of-state", U32, u32;
    TlsReply = 26, "TLS-reply", U8, u8;
    /// One byte (draft-12; ISC 3.0 sent two, which ISC ≥ 3.1 refuses).
    TlsRequest = 27, "TLS-request", U8, u8;
    VendorClassIdentifier = 28, "vendor-class-identifier", Bytes, Vec<u8>;
    VendorSpecificOptions = 29, "vendor-specific-options", Bytes, Vec<u8>;
}

impl fmt::Display for OptionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

/// The Rust side of each wire type. `get` is only called with data whose
/// length the decoder has checked, so the fixed-size readers cannot fail.
trait WireValue: Sized {
    fn put(&self, out: &mut Vec<u8>);
    fn len(&self) -> usize;
    fn get(data: &[u8]) -> Self;
}

impl WireValue for u8 {
    fn put(&self, out: &mut Vec<u8>) {
        out.push(*self);
    }
    fn len(&self) -> usize {
        1
    }
    fn get(data: &[u8]) -> u8 {
        data.first().copied().unwrap_or(0)
    }
}

impl WireValue for u16 {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
    fn len(&self) -> usize {
        2
    }
    fn get(data: &[u8]) -> u16 {
        data.try_into().map(u16::from_be_bytes).unwrap_or(0)
    }
}

impl WireValue for u32 {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
    fn len(&self) -> usize {
        4
    }
    fn get(data: &[u8]) -> u32 {
        data.try_into().map(u32::from_be_bytes).unwrap_or(0)
    }
}

impl WireValue for Ipv4Addr {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.octets());
    }
    fn len(&self) -> usize {
        4
    }
    fn get(data: &[u8]) -> Ipv4Addr {
        <[u8; 4]>::try_from(data)
            .map(Ipv4Addr::from)
            .unwrap_or(Ipv4Addr::UNSPECIFIED)
    }
}

impl WireValue for Vec<u8> {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
    fn len(&self) -> usize {
        self.len()
    }
    fn get(data: &[u8]) -> Vec<u8> {
        data.to_vec()
    }
}

/// ISC's allow-list (`fto_allowed` in `server/stables.c`): the options it
/// keeps for each message type. ISC skips every other known option silently;
/// message-digest is checked in every message and then discarded, so it is
/// in no list.
pub fn allowed(kind: MessageType, code: OptionCode) -> bool {
    allow_mask(kind) & code.bit() != 0
}

/// Where [`DecodeMode::Tandem`] also keeps tandem's extension.
fn tandem_mask(kind: MessageType) -> u32 {
    match kind {
        MessageType::BndUpd | MessageType::ConnectAck | MessageType::State => {
            OptionCode::VendorSpecificOptions.bit()
        }
        _ => 0,
    }
}

fn allow_mask(kind: MessageType) -> u32 {
    use OptionCode as O;
    let codes: &[OptionCode] = match kind {
        MessageType::PoolReq
        | MessageType::UpdReqAll
        | MessageType::UpdDone
        | MessageType::UpdReq
        | MessageType::Contact => &[],
        MessageType::PoolResp => &[O::AddressesTransferred],
        MessageType::BndUpd => &BINDING_OPTIONS,
        MessageType::BndAck => &BNDACK_OPTIONS,
        MessageType::Connect => &[
            O::RelationshipName,
            O::MaxUnackedBndupd,
            O::ReceiveTimer,
            O::VendorClassIdentifier,
            O::ProtocolVersion,
            O::TlsRequest,
            O::Mclt,
            O::HashBucketAssignment,
        ],
        MessageType::ConnectAck => &[
            O::RelationshipName,
            O::MaxUnackedBndupd,
            O::ReceiveTimer,
            O::VendorClassIdentifier,
            O::ProtocolVersion,
            O::TlsReply,
            O::RejectReason,
            O::Message,
        ],
        MessageType::State => &[O::ServerState, O::ServerFlags, O::StartTimeOfState],
        MessageType::Disconnect => &[O::RejectReason, O::Message],
    };
    codes.iter().fold(0, |m, c| m | c.bit())
}

/// What ISC keeps of a binding update.
const BINDING_OPTIONS: [OptionCode; 12] = [
    OptionCode::AssignedIpAddress,
    OptionCode::BindingStatus,
    OptionCode::ClientIdentifier,
    OptionCode::ClientHardwareAddress,
    OptionCode::Ddns,
    OptionCode::IpFlags,
    OptionCode::LeaseExpirationTime,
    OptionCode::PotentialExpirationTime,
    OptionCode::StartTimeOfState,
    OptionCode::ClientLastTransactionTime,
    OptionCode::ClientRequestOptions,
    OptionCode::ClientReplyOptions,
];

/// A binding acknowledgement may carry everything a binding update may,
/// plus the rejection.
const BNDACK_OPTIONS: [OptionCode; 14] = [
    OptionCode::AssignedIpAddress,
    OptionCode::BindingStatus,
    OptionCode::ClientIdentifier,
    OptionCode::ClientHardwareAddress,
    OptionCode::Ddns,
    OptionCode::IpFlags,
    OptionCode::LeaseExpirationTime,
    OptionCode::PotentialExpirationTime,
    OptionCode::StartTimeOfState,
    OptionCode::ClientLastTransactionTime,
    OptionCode::ClientRequestOptions,
    OptionCode::ClientReplyOptions,
    OptionCode::RejectReason,
    OptionCode::Message,
];

/// Failover states (draft-12 §12.24 and ISC's `enum failover_state` in
/// `includes/failover.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailoverState {
    /// ISC-only: not a draft state; ISC treats it like potential-conflict
    /// when the link drops.
    UnknownState = 0,
    Startup = 1,
    Normal = 2,
    CommunicationsInterrupted = 3,
    PartnerDown = 4,
    PotentialConflict = 5,
    Recover = 6,
    Paused = 7,
    ShutDown = 8,
    RecoverDone = 9,
    ResolutionInterrupted = 10,
    ConflictDone = 11,
    /// Draft-12 names the state without giving it a number; ISC has used
    /// 254 since 3.0.
    RecoverWait = 254,
}

impl FailoverState {
    pub const ALL: [FailoverState; 13] = [
        FailoverState::UnknownState,
        FailoverState::Startup,
        FailoverState::Normal,
        FailoverState::CommunicationsInterrupted,
        FailoverState::PartnerDown,
        FailoverState::PotentialConflict,
        FailoverState::Recover,
        FailoverState::Paused,
        FailoverState::ShutDown,
        FailoverState::RecoverDone,
        FailoverState::ResolutionInterrupted,
        FailoverState::ConflictDone,
        FailoverState::RecoverWait,
    ];

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<FailoverState> {
        FailoverState::ALL.into_iter().find(|s| s.code() == code)
    }

    /// The word ISC prints for the state in its log lines ("failover peer
    /// x: I move from normal to communications-interrupted") and in the
    /// `failover peer … state` block of dhcpd.leases
    /// (`dhcp_failover_state_name_print`). Note shut-down is "shutdown"
    /// there, one word, unlike the draft.
    pub fn isc_name(self) -> &'static str {
        match self {
            FailoverState::UnknownState => "unknown-state",
            FailoverState::Startup => "startup",
            FailoverState::Normal => "normal",
            FailoverState::CommunicationsInterrupted => "communications-interrupted",
            FailoverState::PartnerDown => "partner-down",
            FailoverState::PotentialConflict => "potential-conflict",
            FailoverState::Recover => "recover",
            FailoverState::Paused => "paused",
            FailoverState::ShutDown => "shutdown",
            FailoverState::RecoverDone => "recover-done",
            FailoverState::ResolutionInterrupted => "resolution-interrupted",
            FailoverState::ConflictDone => "conflict-done",
            FailoverState::RecoverWait => "recover-wait",
        }
    }

    /// Reads [`FailoverState::isc_name`] back; the draft's spelling
    /// "shut-down" is accepted too.
    pub fn from_isc_name(name: &str) -> Option<FailoverState> {
        if name.eq_ignore_ascii_case("shut-down") {
            return Some(FailoverState::ShutDown);
        }
        FailoverState::ALL
            .into_iter()
            .find(|s| s.isc_name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for FailoverState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.isc_name())
    }
}

/// Reject reasons (draft-12 §12.21, ISC `FTR_*`), carried in CONNECTACK,
/// BNDACK and DISCONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    IllegalIpAddress = 1,
    FatalConflict = 2,
    MissingBindingInfo = 3,
    TimeMismatch = 4,
    InvalidMclt = 5,
    Misc = 6,
    DuplicateConnection = 7,
    InvalidPartner = 8,
    TlsUnsupported = 9,
    TlsUnconfigured = 10,
    TlsRequired = 11,
    DigestUnsupported = 12,
    DigestUnconfigured = 13,
    VersionMismatch = 14,
    OutdatedBindingInfo = 15,
    LessCriticalBindingInfo = 16,
    NoTraffic = 17,
    HbaConflict = 18,
    IpNotReserved = 19,
    IpDigestFailure = 20,
    IpMissingDigest = 21,
    Unknown = 254,
}

impl RejectReason {
    pub const ALL: [RejectReason; 22] = [
        RejectReason::IllegalIpAddress,
        RejectReason::FatalConflict,
        RejectReason::MissingBindingInfo,
        RejectReason::TimeMismatch,
        RejectReason::InvalidMclt,
        RejectReason::Misc,
        RejectReason::DuplicateConnection,
        RejectReason::InvalidPartner,
        RejectReason::TlsUnsupported,
        RejectReason::TlsUnconfigured,
        RejectReason::TlsRequired,
        RejectReason::DigestUnsupported,
        RejectReason::DigestUnconfigured,
        RejectReason::VersionMismatch,
        RejectReason::OutdatedBindingInfo,
        RejectReason::LessCriticalBindingInfo,
        RejectReason::NoTraffic,
        RejectReason::HbaConflict,
        RejectReason::IpNotReserved,
        RejectReason::IpDigestFailure,
        RejectReason::IpMissingDigest,
        RejectReason::Unknown,
    ];

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<RejectReason> {
        RejectReason::ALL.into_iter().find(|r| r.code() == code)
    }

    /// A short description, the default `message` text of a rejection
    /// (ISC too fills `message` from the reason when it has no text).
    pub fn text(self) -> &'static str {
        match self {
            RejectReason::IllegalIpAddress => "illegal IP address: not in any failover pool",
            RejectReason::FatalConflict => "fatal conflict: the address is bound to another client",
            RejectReason::MissingBindingInfo => "missing binding information",
            RejectReason::TimeMismatch => "clocks differ too much",
            RejectReason::InvalidMclt => "invalid or missing MCLT",
            RejectReason::Misc => "rejected for another reason",
            RejectReason::DuplicateConnection => "already connected to this partner",
            RejectReason::InvalidPartner => "not a partner in this relationship",
            RejectReason::TlsUnsupported => "TLS is not supported",
            RejectReason::TlsUnconfigured => "TLS is supported but not configured",
            RejectReason::TlsRequired => "TLS is required",
            RejectReason::DigestUnsupported => "message digests are not supported",
            RejectReason::DigestUnconfigured => "message digests are not configured",
            RejectReason::VersionMismatch => "protocol version mismatch",
            RejectReason::OutdatedBindingInfo => "outdated binding information",
            RejectReason::LessCriticalBindingInfo => "less critical binding information",
            RejectReason::NoTraffic => "no traffic for too long",
            RejectReason::HbaConflict => "hash bucket assignment conflict",
            RejectReason::IpNotReserved => "the address is not reserved here",
            RejectReason::IpDigestFailure => "message digest does not match",
            RejectReason::IpMissingDigest => "message digest missing",
            RejectReason::Unknown => "unknown error",
        }
    }

    /// The text for any code a peer may send, known or not.
    pub fn text_for_code(code: u8) -> Cow<'static, str> {
        match RejectReason::from_code(code) {
            Some(r) => Cow::Borrowed(r.text()),
            None => Cow::Owned(format!("undefined reject reason {code}")),
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.text(), self.code())
    }
}

/// The server-flags option (draft-12 §12.23).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ServerFlags(pub u8);

impl ServerFlags {
    /// The sender is in STARTUP; its server-state is the state it will
    /// return to (ISC sends its saved state with this flag).
    pub const STARTUP: ServerFlags = ServerFlags(0x01);

    pub fn contains(self, other: ServerFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

/// The IP-flags option of a binding update (draft-12 §12.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct IpFlags(pub u16);

impl IpFlags {
    pub const NONE: IpFlags = IpFlags(0);
    /// The address is reserved for the named client.
    pub const RESERVE: IpFlags = IpFlags(0x0001);
    /// The binding was made for a BOOTP client.
    pub const BOOTP: IpFlags = IpFlags(0x0002);

    pub fn contains(self, other: IpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl std::ops::BitOr for IpFlags {
    type Output = IpFlags;
    fn bitor(self, rhs: IpFlags) -> IpFlags {
        IpFlags(self.0 | rhs.0)
    }
}

/// Which options [`Message::decode`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DecodeMode {
    /// Every known option, whatever the message type; every known option is
    /// checked (duplicates, sizes). For tests, tools and our own peers.
    #[default]
    KeepAll,
    /// Only the options ISC keeps for the message type ([`allowed`]); the
    /// others are dropped unchecked, as ISC drops them. Use this to read
    /// what an ISC peer sends exactly as ISC itself would.
    IscAllowList,
    /// ISC's allow-list, plus vendor-specific-options (29) in BNDUPD,
    /// CONNECTACK and STATE, where tandem's extension travels between two
    /// tandem nodes ([`TandemExt`]). What tandem's shell reads with: an ISC
    /// peer never sends option 29, so with ISC it is the allow-list.
    Tandem,
}

/// Why bytes are not a failover message. Any of these must close the
/// connection: ISC treats them all as protocol errors.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("message length {length} is shorter than the 12-byte header")]
    TooShort { length: u16 },
    #[error("message length {length} is longer than the 2048-byte maximum")]
    TooLong { length: u16 },
    #[error("{actual} bytes given but the header says the message has {declared}")]
    LengthMismatch { declared: u16, actual: usize },
    #[error("unknown message type {code}")]
    UnknownType { code: u8 },
    #[error("payload offset {offset} is outside 12..={length} (the message length)")]
    BadPayloadOffset { offset: u8, length: u16 },
    #[error("option header at offset {offset} runs past the end of the message")]
    TruncatedOptionHeader { offset: usize },
    #[error("option {code} at offset {offset}: {len} data bytes run past the end of the message")]
    OptionOverrun { code: u16, offset: usize, len: u16 },
    #[error("option {code} at offset {offset} is a second copy")]
    Duplicate { code: OptionCode, offset: usize },
    #[error("option {code} at offset {offset} has {len} data bytes; it must have {expected}")]
    BadLength {
        code: OptionCode,
        offset: usize,
        len: u16,
        expected: usize,
    },
    #[error("message-digest at offset {offset} is not the last option")]
    DigestNotLast { offset: usize },
    #[error("DDNS option at offset {offset}: ISC cannot parse it and drops the connection")]
    Ddns { offset: usize },
}

/// Why a [`Message`] cannot be written. Each would make ISC drop the
/// connection, so we refuse to send it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    #[error("{kind} would be {len} bytes, over the 2048-byte maximum")]
    TooLong { kind: MessageType, len: usize },
    #[error("{kind} carries option {code} twice")]
    Duplicate { kind: MessageType, code: OptionCode },
    #[error("{kind} carries message-digest before another option")]
    DigestNotLast { kind: MessageType },
    #[error("{kind} carries a DDNS option, which ISC cannot parse")]
    Ddns { kind: MessageType },
}

/// A failover message: the header's meaningful fields and the options in
/// wire order. The length and payload offset are computed when encoding.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Message {
    pub kind: MessageType,
    /// The sender's clock, UNIX seconds (ISC checks it against its own
    /// within ±60 s on CONNECT and CONNECTACK).
    pub time: u32,
    /// Transaction id: a per-connection counter for requests, echoed by the
    /// matching answer (CONNECTACK, BNDACK, POOLRESP, UPDDONE).
    pub xid: u32,
    pub options: Vec<FailoverOption>,
}

impl Message {
    /// A message without options.
    pub fn new(kind: MessageType, time: u32, xid: u32) -> Message {
        Message {
            kind,
            time,
            xid,
            options: Vec::new(),
        }
    }

    /// Appends an option (builder style).
    pub fn with(mut self, option: FailoverOption) -> Message {
        self.options.push(option);
        self
    }

    /// The option with this code, if present.
    pub fn get(&self, code: OptionCode) -> Option<&FailoverOption> {
        self.options.iter().find(|o| o.code() == code)
    }

    /// Length on the wire, header included.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.options.iter().map(|o| 4 + o.data_len()).sum::<usize>()
    }

    /// The message's bytes, with payload offset 12 as ISC writes it.
    ///
    /// Refuses what ISC would drop the connection for: more than 2048
    /// bytes, an option twice, message-digest not last, a DDNS option. So
    /// whatever this returns decodes back to the same message with
    /// [`DecodeMode::KeepAll`].
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let kind = self.kind;
        let len = self.encoded_len();
        if len > MAX_MESSAGE_LEN {
            return Err(EncodeError::TooLong { kind, len });
        }
        let mut seen = 0u32;
        for (i, o) in self.options.iter().enumerate() {
            let code = o.code();
            if seen & code.bit() != 0 {
                return Err(EncodeError::Duplicate { kind, code });
            }
            seen |= code.bit();
            if code == OptionCode::MessageDigest && i + 1 != self.options.len() {
                return Err(EncodeError::DigestNotLast { kind });
            }
            if code == OptionCode::Ddns {
                return Err(EncodeError::Ddns { kind });
            }
        }
        let mut out = Vec::with_capacity(len);
        // Both conversions fit: len ≤ 2048 was checked above, and each
        // option is shorter than the message.
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.push(kind.code());
        out.push(HEADER_LEN as u8);
        out.extend_from_slice(&self.time.to_be_bytes());
        out.extend_from_slice(&self.xid.to_be_bytes());
        for o in &self.options {
            out.extend_from_slice(&o.code().code().to_be_bytes());
            out.extend_from_slice(&(o.data_len() as u16).to_be_bytes());
            o.put_data(&mut out);
        }
        debug_assert_eq!(out.len(), len);
        Ok(out)
    }

    /// Reads one whole message: `frame` must be exactly as long as its
    /// length field says (the [`Framer`] cuts a stream into such frames).
    pub fn decode(frame: &[u8], mode: DecodeMode) -> Result<Message, DecodeError> {
        let length = check_length(frame)?;
        if frame.len() != usize::from(length) {
            return Err(DecodeError::LengthMismatch {
                declared: length,
                actual: frame.len(),
            });
        }
        let end = usize::from(length);
        let kind =
            MessageType::from_code(frame[2]).ok_or(DecodeError::UnknownType { code: frame[2] })?;
        let offset = frame[3];
        if usize::from(offset) < HEADER_LEN || usize::from(offset) > end {
            return Err(DecodeError::BadPayloadOffset { offset, length });
        }
        let time = be32(&frame[4..8]);
        let xid = be32(&frame[8..12]);
        let allow = match mode {
            DecodeMode::KeepAll => u32::MAX,
            DecodeMode::IscAllowList => allow_mask(kind),
            DecodeMode::Tandem => allow_mask(kind) | tandem_mask(kind),
        };

        let mut options = Vec::new();
        let mut present = 0u32;
        let mut pos = usize::from(offset);
        while pos < end {
            let at = pos;
            if end - pos < 4 {
                return Err(DecodeError::TruncatedOptionHeader { offset: at });
            }
            let raw_code = be16(&frame[pos..pos + 2]);
            let len = be16(&frame[pos + 2..pos + 4]);
            pos += 4;
            if end - pos < usize::from(len) {
                return Err(DecodeError::OptionOverrun {
                    code: raw_code,
                    offset: at,
                    len,
                });
            }
            let data = &frame[pos..pos + usize::from(len)];
            pos += usize::from(len);

            let Some(code) = OptionCode::from_code(raw_code) else {
                continue; // unknown: skipped, as ISC does
            };
            if code == OptionCode::MessageDigest {
                if pos != end {
                    return Err(DecodeError::DigestNotLast { offset: at });
                }
                if mode != DecodeMode::KeepAll {
                    continue; // checked, then discarded
                }
            }
            if allow & code.bit() == 0 {
                continue; // ISC keeps no such option in this message type
            }
            if present & code.bit() != 0 {
                return Err(DecodeError::Duplicate { code, offset: at });
            }
            present |= code.bit();
            let wire = code.wire_type();
            if wire == WireType::Ddns {
                return Err(DecodeError::Ddns { offset: at });
            }
            if let Some(expected) = wire.fixed_len() {
                if data.len() != expected {
                    return Err(DecodeError::BadLength {
                        code,
                        offset: at,
                        len,
                        expected,
                    });
                }
            }
            options.push(FailoverOption::from_data(code, data));
        }
        Ok(Message {
            kind,
            time,
            xid,
            options,
        })
    }
}

/// Checks the length field the way ISC does as soon as it has read it:
/// before waiting for the rest of the message.
pub(crate) fn check_length(bytes: &[u8]) -> Result<u16, DecodeError> {
    let length = match bytes {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => {
            return Err(DecodeError::TooShort {
                length: bytes.len() as u16,
            })
        }
    };
    if usize::from(length) < HEADER_LEN {
        return Err(DecodeError::TooShort { length });
    }
    if usize::from(length) > MAX_MESSAGE_LEN {
        return Err(DecodeError::TooLong { length });
    }
    Ok(length)
}

fn be16(b: &[u8]) -> u16 {
    u16::get(b)
}

fn be32(b: &[u8]) -> u32 {
    u32::get(b)
}

/// Typed accessors: the value of one option, `None` when it is absent.
macro_rules! accessors {
    (@conv $v:ident) => { *$v };
    (@conv $v:ident, $name:ident, $conv:expr) => {{ let $name = $v; $conv }};
    ($( $(#[$doc:meta])* $fn:ident -> $ty:ty = $variant:ident $(|$v:ident| $conv:expr)?; )*) => {
        impl Message {
            $(
                $(#[$doc])*
                pub fn $fn(&self) -> Option<$ty> {
                    self.options.iter().find_map(|o| match o {
                        FailoverOption::$variant(v) => Some(accessors!(@conv v $(, $v, $conv)?)),
                        _ => None,
                    })
                }
            )*
        }
    };
}

accessors! {
    addresses_transferred -> u32 = AddressesTransferred;
    assigned_address -> Ipv4Addr = AssignedIpAddress;
    /// The raw binding-status code; see `tandem_dhcp::BindingState::from_code`.
    binding_status -> u8 = BindingStatus;
    client_identifier -> &[u8] = ClientIdentifier |v| v.as_slice();
    /// Hardware type byte, then the address.
    client_hardware_address -> &[u8] = ClientHardwareAddress |v| v.as_slice();
    cltt -> u32 = ClientLastTransactionTime;
    delayed_service -> u8 = DelayedService;
    /// The HBA bytes as sent; [`crate::Hba::from_bytes`] takes exactly 32.
    hba -> &[u8] = HashBucketAssignment |v| v.as_slice();
    ip_flags -> IpFlags = IpFlags |v| IpFlags(*v);
    lease_expiration_time -> u32 = LeaseExpirationTime;
    max_unacked_bndupd -> u32 = MaxUnackedBndupd;
    mclt -> u32 = Mclt;
    /// The `message` option's raw bytes; see [`Message::message_text`].
    message -> &[u8] = Message |v| v.as_slice();
    potential_expiration_time -> u32 = PotentialExpirationTime;
    receive_timer -> u32 = ReceiveTimer;
    protocol_version -> u8 = ProtocolVersion;
    /// The raw reject-reason code; see [`RejectReason::from_code`].
    reject_reason -> u8 = RejectReason;
    relationship_name -> &[u8] = RelationshipName |v| v.as_slice();
    server_flags -> ServerFlags = ServerFlags |v| ServerFlags(*v);
    /// The raw server-state code; see [`FailoverState::from_code`] (ISC goes
    /// to shut-down when a peer reports a state it does not know).
    server_state -> u8 = ServerState;
    stos -> u32 = StartTimeOfState;
    tls_reply -> u8 = TlsReply;
    tls_request -> u8 = TlsRequest;
    vendor_class_identifier -> &[u8] = VendorClassIdentifier |v| v.as_slice();
}

impl Message {
    /// The `message` option as text, bytes that are not UTF-8 replaced.
    pub fn message_text(&self) -> Option<Cow<'_, str>> {
        self.message().map(String::from_utf8_lossy)
    }

    /// The relationship name as text, bytes that are not UTF-8 replaced.
    pub fn relationship_name_text(&self) -> Option<Cow<'_, str>> {
        self.relationship_name().map(String::from_utf8_lossy)
    }

    /// The server-state as a known state; `Some(Err(code))` for a code no
    /// state has.
    pub fn failover_state(&self) -> Option<Result<FailoverState, u8>> {
        self.server_state()
            .map(|c| FailoverState::from_code(c).ok_or(c))
    }
}
