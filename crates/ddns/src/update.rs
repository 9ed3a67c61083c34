//! The RFC 2136 messages of RFC 4703's sequences, one per [`Step`].
//!
//! Forward name (guard = the DHCID, or the TXT in the interim style):
//!
//! | step | prerequisite | update |
//! |---|---|---|
//! | [`Step::Claim`] | name not in use | add A, add guard |
//! | [`Step::TakeOver`] | our guard exists | delete the A RRset, add A |
//! | [`Step::Overwrite`] (no conflict detection) | — | delete guards, add guard, delete the A RRset, add A |
//! | [`Step::Release`] | our guard exists | delete our A record |
//! | [`Step::ReleaseGuard`] | no A, no AAAA left | delete our guard |
//! | [`Step::ReleaseUnguarded`] (no conflict detection) | — | delete our A record |
//!
//! Reverse name (the server owns the PTR of an address it leased):
//!
//! | step | prerequisite | update |
//! |---|---|---|
//! | [`Step::SetPtr`] | — | delete the PTR RRset, add PTR |
//! | [`Step::ClearPtr`] | — | delete our PTR record |
//!
//! Claim first, TakeOver only after YXDOMAIN, as RFC 4703 §5.3.1–5.3.2
//! say: a name with records but no guard (the user's own, from the zone
//! file) fails both, and a name guarded for another client fails TakeOver
//! with NXRRSET. Releasing the guard only once no address is left keeps a
//! name that still has another address of the same client (§5.5).

use tandem_dns_wire::{Class, Header, Message, Name, Opcode, Question, Record, Rtype};

use crate::plan::Binding;

/// One message of a sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    Claim,
    TakeOver,
    Overwrite,
    Release,
    ReleaseGuard,
    ReleaseUnguarded,
    SetPtr,
    ClearPtr,
}

impl Step {
    /// True for the steps on the forward name (the others are on the
    /// reverse name).
    pub fn is_forward(self) -> bool {
        !matches!(self, Step::SetPtr | Step::ClearPtr)
    }
}

/// An UPDATE to send to `zone`'s servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    pub zone: Name,
    pub prerequisites: Vec<Record>,
    pub updates: Vec<Record>,
}

impl Update {
    /// The unsigned message with `id`.
    pub fn to_wire(&self, id: u16) -> Vec<u8> {
        Message {
            header: Header {
                id,
                opcode: Opcode::UPDATE,
                ..Header::default()
            },
            questions: vec![Question {
                name: self.zone.clone(),
                qtype: Rtype::SOA,
                qclass: Class::IN,
            }],
            answers: self.prerequisites.clone(),
            authority: self.updates.clone(),
            ..Default::default()
        }
        .to_wire()
    }
}

fn rr(owner: &Name, rtype: Rtype, class: Class, ttl: u32, rdata: Vec<u8>) -> Record {
    Record::new(owner.clone(), rtype, class, ttl, rdata)
}

/// "Name is not in use" (RFC 2136 §2.4.5).
fn name_unused(owner: &Name) -> Record {
    rr(owner, Rtype::ANY, Class::NONE, 0, Vec::new())
}

/// "RRset does not exist" (§2.4.3).
fn rrset_absent(owner: &Name, rtype: Rtype) -> Record {
    rr(owner, rtype, Class::NONE, 0, Vec::new())
}

/// "RRset exists (value dependent)" (§2.4.2) for one record.
fn rr_present(owner: &Name, rtype: Rtype, rdata: &[u8]) -> Record {
    rr(owner, rtype, Class::IN, 0, rdata.to_vec())
}

/// "Delete an RRset" (§2.5.2).
fn delete_rrset(owner: &Name, rtype: Rtype) -> Record {
    rr(owner, rtype, Class::ANY, 0, Vec::new())
}

/// "Delete an RR from an RRset" (§2.5.4).
fn delete_rr(owner: &Name, rtype: Rtype, rdata: &[u8]) -> Record {
    rr(owner, rtype, Class::NONE, 0, rdata.to_vec())
}

fn add(owner: &Name, rtype: Rtype, ttl: u32, rdata: &[u8]) -> Record {
    rr(owner, rtype, Class::IN, ttl, rdata.to_vec())
}

/// The message of `step` for `b`, sent to `zone`. `None` for a reverse
/// step when the binding has no reverse name.
pub fn build(step: Step, b: &Binding, zone: &Name) -> Option<Update> {
    let name = &b.fqdn;
    let a = b.addr.octets();
    let g = b.guard.rtype();
    let gdata = &b.guard.rdata[..];
    let (prerequisites, updates) = match step {
        Step::Claim => (
            vec![name_unused(name)],
            vec![add(name, Rtype::A, b.ttl, &a), add(name, g, b.ttl, gdata)],
        ),
        Step::TakeOver => (
            vec![rr_present(name, g, gdata)],
            vec![delete_rrset(name, Rtype::A), add(name, Rtype::A, b.ttl, &a)],
        ),
        Step::Overwrite => (
            Vec::new(),
            vec![
                delete_rrset(name, g),
                add(name, g, b.ttl, gdata),
                delete_rrset(name, Rtype::A),
                add(name, Rtype::A, b.ttl, &a),
            ],
        ),
        Step::Release => (
            vec![rr_present(name, g, gdata)],
            vec![delete_rr(name, Rtype::A, &a)],
        ),
        Step::ReleaseGuard => (
            vec![
                rrset_absent(name, Rtype::A),
                rrset_absent(name, Rtype::AAAA),
            ],
            vec![delete_rr(name, g, gdata)],
        ),
        Step::ReleaseUnguarded => (Vec::new(), vec![delete_rr(name, Rtype::A, &a)]),
        Step::SetPtr => {
            let rev = b.reverse.as_ref()?;
            (
                Vec::new(),
                vec![
                    delete_rrset(rev, Rtype::PTR),
                    add(rev, Rtype::PTR, b.ttl, name.as_wire()),
                ],
            )
        }
        Step::ClearPtr => {
            let rev = b.reverse.as_ref()?;
            (Vec::new(), vec![delete_rr(rev, Rtype::PTR, name.as_wire())])
        }
    };
    Some(Update {
        zone: zone.clone(),
        prerequisites,
        updates,
    })
}
