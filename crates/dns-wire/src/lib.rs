//! The DNS wire format as tandem speaks it.
//!
//! This crate owns the byte-level representation of DNS data: domain names
//! ([`Name`]), resource records ([`Record`]), whole messages ([`Message`])
//! with name compression, EDNS(0) ([`Edns`]) and TSIG ([`tsig`]). It is
//! pure: no sockets, no files, no clock (TSIG takes `now` as an argument).
//!
//! Codec contract (after smoltcp's `wire` module): [`Message::parse`] checks
//! every length before it reads, follows only backward compression pointers
//! (so loops are impossible), and returns a [`WireError`] for any malformed
//! input; it never panics. Record data is stored *uncompressed*, so a record
//! read from one message can be written into another or into the journal
//! unchanged.
//!
//! NLnet Labs' `domain` crate provides the type registries ([`Rtype`],
//! [`Class`], [`Rcode`], [`Opcode`]) and the presentation format of names
//! and record data; see ARCHITECTURE.md for why the message codec itself is
//! ours.

pub mod message;
pub mod name;
pub mod rdata;
pub mod record;
pub mod tsig;

pub use domain::base::iana::{Class, Opcode, Rcode, Rtype};
pub use message::{Edns, Header, Message, MessageWriter, Question, Section, WireError};
pub use name::{Name, NameError};
pub use record::Record;
pub use tsig::{
    sign_request, verify_request, Algorithm, ClientContext, Key, KeyRing, RequestContext,
    SequenceSigner, SequenceVerifier, TsigError, TsigFailure, TsigRdata, VerifyError,
};
