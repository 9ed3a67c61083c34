//! The messages ISC sends, built with ISC's option set and order, and the
//! conversion between a BNDUPD and a [`Lease`].
//!
//! Each builder follows one sender in ISC's `server/failover.c`
//! (`dhcp_failover_send_*`); its doc comment names it. The order of options
//! does not matter to ISC's reader, but matching it keeps our bytes
//! comparable with captures of dhcpd itself.
//!
//! Transaction ids are the caller's: ISC increments one counter per
//! connection for every message it originates and echoes the request's id
//! in CONNECTACK, BNDACK, POOLRESP and UPDDONE (dhcp-anchors.md §1.3). A
//! BNDUPD's xid must not be 0 (ISC uses 0 to mean "no update in flight").

use std::net::Ipv4Addr;

use tandem_dhcp::{BindingState, HwAddr, Lease, LeaseDns};
use thiserror::Error;

use super::{FailoverOption as O, FailoverState, IpFlags, Message, MessageType, RejectReason};
use super::{ServerFlags, PROTOCOL_VERSION};
use crate::hash::Hba;
use crate::Role;

/// What tandem puts in vendor-class-identifier. ISC sends `isc-` and its
/// version (`isc-4.4.3-P1`) and never looks at the partner's.
pub const TANDEM_VENDOR_CLASS: &str = concat!("tandem-", env!("CARGO_PKG_VERSION"));

/// Whether a vendor-class-identifier (CONNECT, CONNECTACK) is tandem's.
pub fn is_tandem_vendor(vendor_class: &[u8]) -> bool {
    vendor_class.starts_with(b"tandem-")
}

/// tandem's extension, carried in vendor-specific-options (29) and only
/// between two tandem nodes: a node adds it once the partner's CONNECT or
/// CONNECTACK named tandem's vendor class, never before, so an ISC dhcpd
/// never receives it (ISC would skip option 29 anyway: it is in none of
/// its allow-lists; the DDNS option 9, which ISC cannot parse, is never
/// used).
///
/// ```text
/// "tandem" 1            magic and version (7 bytes)
/// sub-option × n        code u8, length u16, data; unknown codes are skipped
///   1 host name         UTF-8                              (BNDUPD)
///   2 DDNS state        tandem_dhcp::LeaseDns::encode      (BNDUPD)
///   3 config hash       u64                                (CONNECTACK, STATE)
/// ```
///
/// In a BNDUPD the extension's presence means "this is the whole story":
/// no host name sub-option means the lease has none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TandemExt {
    pub hostname: Option<String>,
    pub ddns: Option<LeaseDns>,
    /// A hash of the DHCP configuration both nodes must share (pools and
    /// options), to warn of drift at connect.
    pub config_hash: Option<u64>,
}

const EXT_MAGIC: &[u8; 7] = b"tandem\x01";
const EXT_HOSTNAME: u8 = 1;
const EXT_DDNS: u8 = 2;
const EXT_CONFIG_HASH: u8 = 3;

impl TandemExt {
    /// The option's data. A field that does not fit (over 65535 bytes, or
    /// a DDNS state `LeaseDns::encode` refuses) is left out.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = EXT_MAGIC.to_vec();
        let mut put = |code: u8, data: &[u8]| {
            if let Ok(len) = u16::try_from(data.len()) {
                out.push(code);
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(data);
            }
        };
        if let Some(h) = &self.hostname {
            put(EXT_HOSTNAME, h.as_bytes());
        }
        if let Some(d) = self.ddns.as_ref().and_then(LeaseDns::encode) {
            put(EXT_DDNS, &d);
        }
        if let Some(h) = self.config_hash {
            put(EXT_CONFIG_HASH, &h.to_be_bytes());
        }
        out
    }

    /// Reads [`TandemExt::encode`]'s bytes; `None` for anything else (a
    /// vendor-specific-options of another vendor, or damaged).
    pub fn decode(b: &[u8]) -> Option<TandemExt> {
        let mut rest = b.strip_prefix(EXT_MAGIC.as_slice())?;
        let mut ext = TandemExt::default();
        while !rest.is_empty() {
            let (&[code, hi, lo], r) = rest.split_first_chunk::<3>()?;
            let len = usize::from(u16::from_be_bytes([hi, lo]));
            if r.len() < len {
                return None;
            }
            let (data, r) = r.split_at(len);
            rest = r;
            match code {
                EXT_HOSTNAME => ext.hostname = Some(String::from_utf8(data.to_vec()).ok()?),
                EXT_DDNS => ext.ddns = Some(LeaseDns::decode(data).ok()?),
                EXT_CONFIG_HASH => {
                    ext.config_hash = Some(u64::from_be_bytes(data.try_into().ok()?))
                }
                _ => {}
            }
        }
        Some(ext)
    }

    /// The extension a message carries, if it carries tandem's.
    pub fn of(m: &Message) -> Option<TandemExt> {
        m.options.iter().find_map(|o| match o {
            O::VendorSpecificOptions(v) => TandemExt::decode(v),
            _ => None,
        })
    }

    /// `m` with the extension appended as vendor-specific-options. Only
    /// for a partner known to be tandem.
    pub fn append_to(&self, mut m: Message) -> Message {
        m.options.push(O::VendorSpecificOptions(self.encode()));
        m
    }
}

/// ISC's `MAX_TIME` (2038-01-19): the lease time dhcpd keeps, sends and
/// prints as `never` for a lease that does not end.
pub const ISC_NEVER: u32 = 0x7fff_ffff;

/// A lease time as the failover protocol carries it: 32-bit UNIX seconds.
/// Anything at or past [`ISC_NEVER`] (tandem's "never" is `u64::MAX`) is
/// sent as ISC's never.
pub fn lease_time_to_wire(t: u64) -> u32 {
    u32::try_from(t).map_or(ISC_NEVER, |t| t.min(ISC_NEVER))
}

/// The inverse of [`lease_time_to_wire`]: ISC's never (or anything past
/// it, which dhcpd itself clamps to never) becomes `u64::MAX`.
pub fn lease_time_from_wire(t: u32) -> u64 {
    if t >= ISC_NEVER {
        u64::MAX
    } else {
        u64::from(t)
    }
}

/// The primary's CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect<'a> {
    /// The `failover peer "name"` both sides configure.
    pub relationship_name: &'a str,
    /// Our `max-unacked-updates`: how many BNDUPDs the partner may have in
    /// flight to us.
    pub max_unacked_bndupd: u32,
    /// Our `max-response-delay`: after that much silence we drop the link;
    /// the partner sends something at least every third of it.
    pub receive_timer: u32,
    pub vendor_class: &'a str,
    pub mclt: u32,
    /// ISC sends it whenever the primary has `split` or `hba` configured,
    /// and an ISC secondary refuses a CONNECT without it (reason 18).
    pub hba: Option<&'a Hba>,
}

/// CONNECT, as `dhcp_failover_send_connect`: relationship-name,
/// max-unacked-bndupd, receive-timer, vendor-class-identifier,
/// protocol-version 1, TLS-request 0 (one byte: "no TLS"), MCLT, then the
/// HBA if there is one.
pub fn connect(time: u32, xid: u32, c: &Connect<'_>) -> Message {
    let mut m = Message::new(MessageType::Connect, time, xid)
        .with(O::RelationshipName(c.relationship_name.as_bytes().to_vec()))
        .with(O::MaxUnackedBndupd(c.max_unacked_bndupd))
        .with(O::ReceiveTimer(c.receive_timer))
        .with(O::VendorClassIdentifier(c.vendor_class.as_bytes().to_vec()))
        .with(O::ProtocolVersion(PROTOCOL_VERSION))
        .with(O::TlsRequest(0))
        .with(O::Mclt(c.mclt));
    if let Some(hba) = c.hba {
        m.options
            .push(O::HashBucketAssignment(hba.as_bytes().to_vec()));
    }
    m
}

/// The secondary's answer to CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectAck<'a> {
    /// Ours, or when rejecting a CONNECT for a relationship we do not have,
    /// the name it carried (ISC echoes it), or none if it had none.
    pub relationship_name: Option<&'a [u8]>,
    /// Absent only when rejecting an unknown relationship, as in ISC.
    pub max_unacked_bndupd: Option<u32>,
    pub receive_timer: Option<u32>,
    pub vendor_class: &'a str,
    /// Set when the CONNECT carried TLS-request: ISC then answers TLS-reply
    /// 0 ("no TLS").
    pub tls_reply: bool,
    /// A refusal: the reason, and the text for the `message` option (ISC
    /// sends one only when it has a text).
    pub reject: Option<(RejectReason, Option<&'a str>)>,
}

/// CONNECTACK, as `dhcp_failover_send_connectack`: relationship-name,
/// max-unacked-bndupd, receive-timer, vendor-class-identifier,
/// protocol-version, TLS-reply, reject-reason, message; each optional one
/// only when set. `xid` is the CONNECT's.
pub fn connectack(time: u32, xid: u32, a: &ConnectAck<'_>) -> Message {
    let mut m = Message::new(MessageType::ConnectAck, time, xid);
    if let Some(name) = a.relationship_name {
        m.options.push(O::RelationshipName(name.to_vec()));
    }
    if let Some(n) = a.max_unacked_bndupd {
        m.options.push(O::MaxUnackedBndupd(n));
    }
    if let Some(t) = a.receive_timer {
        m.options.push(O::ReceiveTimer(t));
    }
    m.options
        .push(O::VendorClassIdentifier(a.vendor_class.as_bytes().to_vec()));
    m.options.push(O::ProtocolVersion(PROTOCOL_VERSION));
    if a.tls_reply {
        m.options.push(O::TlsReply(0));
    }
    if let Some((reason, text)) = a.reject {
        m.options.push(O::RejectReason(reason.code()));
        if let Some(text) = text {
            m.options.push(O::Message(text.as_bytes().to_vec()));
        }
    }
    m
}

/// STATE, as `dhcp_failover_send_state`: server-state, server-flags,
/// start-time-of-state; 30 bytes. In STARTUP, ISC sends the state it saved
/// (the one it will return to) with [`ServerFlags::STARTUP`].
pub fn state(
    time: u32,
    xid: u32,
    server_state: FailoverState,
    flags: ServerFlags,
    stos: u32,
) -> Message {
    Message::new(MessageType::State, time, xid)
        .with(O::ServerState(server_state.code()))
        .with(O::ServerFlags(flags.0))
        .with(O::StartTimeOfState(stos))
}

/// CONTACT, the keepalive: the header alone, 12 bytes.
pub fn contact(time: u32, xid: u32) -> Message {
    Message::new(MessageType::Contact, time, xid)
}

/// DISCONNECT, as `dhcp_failover_send_disconnect`: reject-reason, then
/// message (the reason's text when none is given, as ISC does).
pub fn disconnect(time: u32, xid: u32, reason: RejectReason, text: Option<&str>) -> Message {
    Message::new(MessageType::Disconnect, time, xid)
        .with(O::RejectReason(reason.code()))
        .with(O::Message(
            text.unwrap_or(reason.text()).as_bytes().to_vec(),
        ))
}

/// The binding state to put in a BNDUPD. ISC sends a reserved lease that
/// is still allocatable in the *peer's* free state, which is what lets the
/// peer hand it to the reserved client: a primary turns FREE into BACKUP, a
/// secondary BACKUP into FREE (`dhcp_failover_send_bind_update`). Such a
/// BNDUPD must also carry [`IpFlags::RESERVE`].
pub fn transmit_state(role: Role, state: BindingState, reserved: bool) -> BindingState {
    match (reserved, role, state) {
        (true, Role::Primary, BindingState::Free) => BindingState::Backup,
        (true, Role::Secondary, BindingState::Backup) => BindingState::Free,
        _ => state,
    }
}

/// BNDUPD for a lease, as `dhcp_failover_send_bind_update`:
/// assigned-IP-address, binding-status (`lease.state`: apply
/// [`transmit_state`] first for reserved leases), client-identifier (if
/// any), client-hardware-address (hardware type byte, then the address; if
/// any), lease-expiration-time (`end`), potential-expiration-time (`tstp`),
/// start-time-of-state (`start`), CLTT (if not 0), IP-flags (if not 0).
///
/// Never the DDNS option, nor client request/reply options: ISC leaves those
/// out too, and it cannot parse a DDNS option at all (dhcp-anchors.md
/// §1.11). So the host name does not travel to ISC; to a tandem partner
/// it does, with [`bndupd_tandem`].
pub fn bndupd(time: u32, xid: u32, lease: &Lease, flags: IpFlags) -> Message {
    let mut m = Message::new(MessageType::BndUpd, time, xid)
        .with(O::AssignedIpAddress(lease.addr))
        .with(O::BindingStatus(lease.state.code()));
    if let Some(id) = lease.client_id.as_ref().filter(|id| !id.is_empty()) {
        m.options.push(O::ClientIdentifier(id.clone()));
    }
    if let Some(hw) = &lease.hw {
        let mut chaddr = Vec::with_capacity(1 + hw.addr.len());
        chaddr.push(hw.htype);
        chaddr.extend_from_slice(&hw.addr);
        m.options.push(O::ClientHardwareAddress(chaddr));
    }
    m.options
        .push(O::LeaseExpirationTime(lease_time_to_wire(lease.end)));
    m.options
        .push(O::PotentialExpirationTime(lease_time_to_wire(lease.tstp)));
    m.options
        .push(O::StartTimeOfState(lease_time_to_wire(lease.start)));
    if lease.cltt != 0 {
        m.options
            .push(O::ClientLastTransactionTime(lease_time_to_wire(lease.cltt)));
    }
    if !flags.is_empty() {
        m.options.push(O::IpFlags(flags.0));
    }
    m
}

/// A BNDUPD for a tandem partner: [`bndupd`] plus tandem's extension
/// with the lease's host name and DDNS state. Never for ISC.
pub fn bndupd_tandem(time: u32, xid: u32, lease: &Lease, flags: IpFlags) -> Message {
    let ext = TandemExt {
        hostname: lease.hostname.clone(),
        ddns: lease.ddns.clone(),
        config_hash: None,
    };
    ext.append_to(bndupd(time, xid, lease, flags))
}

/// BNDACK, as `dhcp_failover_send_bind_ack`: assigned-IP-address only, plus
/// reject-reason and message (the reason's text when none is given) on a
/// rejection. `xid` is the BNDUPD's.
///
/// ISC compiles out the rest of the draft's BNDACK fields, and that is
/// what keeps its BNDACK bug asleep: its reader tests the *code* 18 rather
/// than the potential-expiry presence bit, so it reads
/// potential-expiration-time only when client-identifier is present, and
/// takes 0 if that option is missing (dhcp-anchors.md §1.11). This builder
/// therefore never adds client-identifier.
pub fn bndack(
    time: u32,
    xid: u32,
    addr: Ipv4Addr,
    reject: Option<(RejectReason, Option<&str>)>,
) -> Message {
    let mut m = Message::new(MessageType::BndAck, time, xid).with(O::AssignedIpAddress(addr));
    if let Some((reason, text)) = reject {
        m.options.push(O::RejectReason(reason.code()));
        m.options.push(O::Message(
            text.unwrap_or(reason.text()).as_bytes().to_vec(),
        ));
    }
    m
}

/// UPDREQ: "send me what you have not had acknowledged". No options.
pub fn updreq(time: u32, xid: u32) -> Message {
    Message::new(MessageType::UpdReq, time, xid)
}

/// UPDREQALL: "send me every binding" (ISC sends it on entering RECOVER).
/// No options.
pub fn updreqall(time: u32, xid: u32) -> Message {
    Message::new(MessageType::UpdReqAll, time, xid)
}

/// UPDDONE: the replay asked for is complete. No options; `xid` is the
/// UPDREQ's or UPDREQALL's.
pub fn upddone(time: u32, xid: u32) -> Message {
    Message::new(MessageType::UpdDone, time, xid)
}

/// POOLREQ: "I am short of free leases". No options.
pub fn poolreq(time: u32, xid: u32) -> Message {
    Message::new(MessageType::PoolReq, time, xid)
}

/// POOLRESP: addresses-transferred, the number of leases queued for the
/// requester. `xid` is the POOLREQ's.
pub fn poolresp(time: u32, xid: u32, addresses_transferred: u32) -> Message {
    Message::new(MessageType::PoolResp, time, xid)
        .with(O::AddressesTransferred(addresses_transferred))
}

/// A received BNDUPD, checked and typed: the lease fields it sets.
///
/// Absent options are `None`; what absence means is ISC's and is applied
/// by [`BindingUpdate::apply_to`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingUpdate {
    pub addr: Ipv4Addr,
    pub state: BindingState,
    pub client_id: Option<Vec<u8>>,
    /// `Some(None)`: the option was present but empty (ISC then stores a
    /// zero-length hardware address).
    pub hw: Option<Option<HwAddr>>,
    /// start-time-of-state: `Lease::start`.
    pub start: Option<u64>,
    pub end: Option<u64>,
    /// The partner's potential expiry: our `Lease::tsfp`.
    pub potential_expiry: Option<u64>,
    pub cltt: Option<u64>,
    /// ISC: "flags may only not appear if the values are zero".
    pub ip_flags: IpFlags,
    /// tandem's extension (host name and DDNS state), when the update
    /// carries it; the state machine keeps it only from a tandem partner.
    pub tandem: Option<TandemExt>,
}

/// Why a BNDUPD cannot be taken as a binding. [`BindingError::reject_reason`]
/// is what to answer in the BNDACK.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BindingError {
    #[error("{0} is not a BNDUPD")]
    NotBndupd(MessageType),
    #[error("binding update without assigned-IP-address")]
    MissingAddress,
    #[error("binding update without binding-status")]
    MissingBindingStatus,
    #[error("binding update with unknown binding-status {0}")]
    UnknownBindingStatus(u8),
    #[error("binding update to {0} without client-hardware-address")]
    MissingHardwareAddress(BindingState),
    #[error("binding update to abandoned with a client-hardware-address")]
    AbandonedWithHardwareAddress,
    #[error("binding update to abandoned with a client-identifier")]
    AbandonedWithClientId,
    #[error("client-hardware-address of {0} bytes: at most 17 (type and 16 octets)")]
    HardwareAddressTooLong(usize),
}

impl BindingError {
    /// The reject reason ISC answers with for the same fault
    /// (`dhcp_failover_process_bind_update`; faults ISC has no specific
    /// reason for get "misc", as there).
    pub fn reject_reason(&self) -> RejectReason {
        match self {
            BindingError::MissingAddress
            | BindingError::MissingBindingStatus
            | BindingError::MissingHardwareAddress(_) => RejectReason::MissingBindingInfo,
            // ISC itself has no answer here: a binding status it does not
            // know reaches a "can't happen" branch that aborts dhcpd.
            BindingError::UnknownBindingStatus(_)
            | BindingError::NotBndupd(_)
            | BindingError::AbandonedWithHardwareAddress
            | BindingError::AbandonedWithClientId
            | BindingError::HardwareAddressTooLong(_) => RejectReason::Misc,
        }
    }
}

/// Turns a received BNDUPD into the lease fields it carries, with the
/// checks ISC makes on the message alone before looking at its own lease
/// (`dhcp_failover_process_bind_update`): address and binding status
/// present; ACTIVE, EXPIRED and RELEASED name their client's hardware
/// address; ABANDONED names no client; a hardware address fits ISC's
/// 17-byte buffer. Whether the transition is allowed depends on the local
/// lease and failover state and is the state machine's to decide.
pub fn lease_from_bndupd(m: &Message) -> Result<BindingUpdate, BindingError> {
    if m.kind != MessageType::BndUpd {
        return Err(BindingError::NotBndupd(m.kind));
    }
    let addr = m.assigned_address().ok_or(BindingError::MissingAddress)?;
    let code = m
        .binding_status()
        .ok_or(BindingError::MissingBindingStatus)?;
    let state = BindingState::from_code(code).ok_or(BindingError::UnknownBindingStatus(code))?;
    let hw = match m.client_hardware_address() {
        Some(_) if state == BindingState::Abandoned => {
            return Err(BindingError::AbandonedWithHardwareAddress)
        }
        Some(b) if b.len() > 17 => return Err(BindingError::HardwareAddressTooLong(b.len())),
        Some([]) => Some(None),
        Some([htype, addr @ ..]) => Some(Some(HwAddr {
            htype: *htype,
            addr: addr.to_vec(),
        })),
        None if matches!(
            state,
            BindingState::Active | BindingState::Expired | BindingState::Released
        ) =>
        {
            return Err(BindingError::MissingHardwareAddress(state))
        }
        None => None,
    };
    let client_id = match m.client_identifier() {
        Some(_) if state == BindingState::Abandoned => {
            return Err(BindingError::AbandonedWithClientId)
        }
        id => id.map(<[u8]>::to_vec),
    };
    Ok(BindingUpdate {
        addr,
        state,
        client_id,
        hw,
        start: m.stos().map(lease_time_from_wire),
        end: m.lease_expiration_time().map(lease_time_from_wire),
        potential_expiry: m.potential_expiration_time().map(lease_time_from_wire),
        cltt: m.cltt().map(lease_time_from_wire),
        ip_flags: m.ip_flags().unwrap_or_default(),
        tandem: TandemExt::of(m),
    })
}

impl BindingUpdate {
    /// The lease after installing this update over `current` (the local
    /// version of the same address), as ISC marks up its copy of the lease
    /// in `dhcp_failover_process_bind_update`:
    ///
    /// - a hardware address in the update replaces ours; without one, an
    ///   ABANDONED update clears it, others keep it;
    /// - a client identifier in the update replaces ours; without one, it
    ///   is cleared unless the new state is FREE, BACKUP or RESET (the
    ///   protocol cannot say "no identifier" otherwise);
    /// - start, end and the partner's potential expiry (`tsfp`, and `atsfp`
    ///   with it, as ISC sets both) are taken when present;
    /// - CLTT is *not* taken: ISC keeps its own and uses the update's only
    ///   to settle dueling updates;
    /// - an ACTIVE update for another client drops the host name and DDNS
    ///   state, which belonged to the previous client (where ISC removes
    ///   that client's DNS records);
    /// - tandem's extension, when present, sets both (see [`TandemExt`]).
    ///
    /// The state becomes the update's. ISC then moves an accepted EXPIRED,
    /// RELEASED or RESET on to FREE: that, and every permission check, is
    /// the state machine's.
    pub fn apply_to(&self, current: &Lease) -> Lease {
        let mut l = current.clone();
        l.addr = self.addr;
        l.state = self.state;
        let before = (l.hw.clone(), l.client_id.clone());
        match &self.hw {
            Some(hw) => l.hw = hw.clone(),
            None if self.state == BindingState::Abandoned => l.hw = None,
            None => {}
        }
        match &self.client_id {
            Some(id) => l.client_id = Some(id.clone()),
            None if !matches!(
                self.state,
                BindingState::Free | BindingState::Backup | BindingState::Reset
            ) =>
            {
                l.client_id = None
            }
            None => {}
        }
        if let Some(ext) = &self.tandem {
            // A tandem partner says what the lease's name and DNS state are.
            l.hostname = ext.hostname.clone();
            l.ddns = ext.ddns.clone();
        } else if self.state == BindingState::Active
            && (l.hw.clone(), l.client_id.clone()) != before
        {
            l.hostname = None;
            l.ddns = None;
        }
        if let Some(t) = self.start {
            l.start = t;
        }
        if let Some(t) = self.end {
            l.end = t;
        }
        if let Some(t) = self.potential_expiry {
            l.tsfp = t;
            l.atsfp = t;
        }
        l
    }
}
