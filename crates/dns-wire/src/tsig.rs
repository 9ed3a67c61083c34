//! TSIG (RFC 8945): signing and verifying messages with shared keys.
//!
//! This module owns everything TSIG does on the wire and nothing else:
//!
//! * the HMAC algorithms TSIG names ([`Algorithm`]) and the shared secrets
//!   ([`Key`], looked up through a [`KeyRing`]);
//! * the TSIG record data ([`TsigRdata`]), parsed with bounds checks;
//! * the MAC computations of RFC 8945 §4.3: for requests, for responses
//!   (which cover the request MAC), for error responses (§5.3.2) and for
//!   the later messages of a multi-message answer such as AXFR (§5.3.1);
//! * the server's verification of a request in the order of §5.2
//!   ([`verify_request`]) and what to send back when it fails
//!   ([`TsigFailure`]);
//! * the client's signing of a request ([`sign_request`]) and checking of
//!   the answer ([`ClientContext`], [`SequenceVerifier`]).
//!
//! It does not own policy about *which* key may do what (that is the
//! server's ACL code), replay caches, or the clock: every function that
//! needs the time takes `now` in seconds since the Unix epoch.
//!
//! Messages are handled as bytes: a signer appends the TSIG record to a
//! finished message and increments ARCOUNT; a verifier uses the offset of
//! the TSIG record that [`Message::parse`] recorded, so the MAC is computed
//! over exactly the bytes that were received.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use bytes::Bytes;
use domain::base::iana::{Class, Rcode, Rtype};
use hmac::{Hmac, Mac};

use crate::message::{Message, WireError, HEADER_LEN};
use crate::name::Name;
use crate::record::Record;

/// TSIG error code BADSIG: the MAC did not verify.
pub const BADSIG: u16 = 16;
/// TSIG error code BADKEY: the key or its algorithm is not known.
pub const BADKEY: u16 = 17;
/// TSIG error code BADTIME: the time signed is outside the fudge window.
pub const BADTIME: u16 = 18;
/// TSIG error code BADTRUNC: the MAC is truncated more than local policy
/// allows.
pub const BADTRUNC: u16 = 22;

/// Fudge used when the caller has no better idea (RFC 8945 §10 suggests
/// 300 seconds).
pub const DEFAULT_FUDGE: u16 = 300;

/// Most unsigned messages allowed in a row inside a signed multi-message
/// answer (RFC 8945 §5.3.1: "at least every 100th message" is signed).
pub const MAX_UNSIGNED_RUN: usize = 99;

/// Largest value of the 48-bit Time Signed field.
const MAX_TIME: u64 = (1 << 48) - 1;

/// Malformed TSIG input, or input this module cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TsigError {
    #[error("TSIG record data is truncated")]
    Truncated,
    #[error("TSIG algorithm name is malformed")]
    BadAlgorithmName,
    #[error("{0} bytes after the end of the TSIG record data")]
    TrailingData(usize),
    #[error("TSIG record has class {0}, not ANY")]
    BadClass(Class),
    #[error("TSIG record offset does not fit the message")]
    BadOffset,
    #[error("MAC of {len} bytes is not allowed for a {full}-byte algorithm")]
    BadMacLength { len: usize, full: usize },
    #[error("unknown TSIG algorithm {0:?}")]
    UnknownAlgorithm(String),
    #[error("key secret is not valid base64")]
    BadBase64,
    #[error("message is shorter than a DNS header")]
    ShortMessage,
    #[error("message already has 65535 additional records")]
    TooManyRecords,
    #[error("TSIG record data would exceed 65535 bytes")]
    RdataTooLong,
    #[error("message is malformed: {0}")]
    Wire(#[from] WireError),
}

/// The HMAC algorithms of the TSIG algorithm registry that we implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    HmacMd5,
    HmacSha1,
    HmacSha224,
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

impl Algorithm {
    /// Every algorithm, weakest first.
    pub const ALL: [Algorithm; 6] = [
        Algorithm::HmacMd5,
        Algorithm::HmacSha1,
        Algorithm::HmacSha224,
        Algorithm::HmacSha256,
        Algorithm::HmacSha384,
        Algorithm::HmacSha512,
    ];

    /// The algorithm's domain name in wire format, lower case.
    fn wire_name(self) -> &'static [u8] {
        match self {
            Algorithm::HmacMd5 => b"\x08hmac-md5\x07sig-alg\x03reg\x03int\x00",
            Algorithm::HmacSha1 => b"\x09hmac-sha1\x00",
            Algorithm::HmacSha224 => b"\x0bhmac-sha224\x00",
            Algorithm::HmacSha256 => b"\x0bhmac-sha256\x00",
            Algorithm::HmacSha384 => b"\x0bhmac-sha384\x00",
            Algorithm::HmacSha512 => b"\x0bhmac-sha512\x00",
        }
    }

    /// The short name BIND uses in `key` statements.
    fn short_name(self) -> &'static str {
        match self {
            Algorithm::HmacMd5 => "hmac-md5",
            Algorithm::HmacSha1 => "hmac-sha1",
            Algorithm::HmacSha224 => "hmac-sha224",
            Algorithm::HmacSha256 => "hmac-sha256",
            Algorithm::HmacSha384 => "hmac-sha384",
            Algorithm::HmacSha512 => "hmac-sha512",
        }
    }

    /// The algorithm's name as written in TSIG records, e.g.
    /// `hmac-md5.sig-alg.reg.int.` or `hmac-sha256.`.
    pub fn name(self) -> Name {
        Name::from_wire(Bytes::from_static(self.wire_name()))
            .expect("algorithm names are valid wire names")
    }

    /// Recognises an algorithm by its name in a TSIG record (any case).
    pub fn from_name(name: &Name) -> Option<Algorithm> {
        Self::ALL
            .into_iter()
            .find(|a| a.wire_name().eq_ignore_ascii_case(name.as_wire()))
    }

    /// Length of the untruncated MAC in bytes.
    pub fn mac_len(self) -> usize {
        match self {
            Algorithm::HmacMd5 => 16,
            Algorithm::HmacSha1 => 20,
            Algorithm::HmacSha224 => 28,
            Algorithm::HmacSha256 => 32,
            Algorithm::HmacSha384 => 48,
            Algorithm::HmacSha512 => 64,
        }
    }

    /// Shortest MAC RFC 8945 §5.2.2.1 lets a sender truncate to: the larger
    /// of 10 bytes and half the full length.
    pub fn min_mac_len(self) -> usize {
        (self.mac_len() / 2).max(10)
    }

    /// HMAC of `data` under `secret` with this algorithm, full length.
    pub fn hmac(self, secret: &[u8], data: &[u8]) -> Vec<u8> {
        let mut h = Hmacer::new(self, secret);
        h.update(data);
        h.finish()
    }
}

impl fmt::Display for Algorithm {
    /// Writes the BIND spelling, e.g. `hmac-sha256`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short_name())
    }
}

impl FromStr for Algorithm {
    type Err = TsigError;

    /// Accepts the BIND spellings and the record names, in any case and
    /// with or without the final dot: `hmac-md5`,
    /// `HMAC-MD5.SIG-ALG.REG.INT`, `hmac-sha256.`, ...
    fn from_str(s: &str) -> Result<Algorithm, TsigError> {
        let t = s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase();
        let t = if t == "hmac-md5.sig-alg.reg.int" {
            "hmac-md5"
        } else {
            t.as_str()
        };
        Self::ALL
            .into_iter()
            .find(|a| a.short_name() == t)
            .ok_or_else(|| TsigError::UnknownAlgorithm(s.to_string()))
    }
}

/// An HMAC in progress, whichever the algorithm.
enum Hmacer {
    Md5(Hmac<md5::Md5>),
    Sha1(Hmac<sha1::Sha1>),
    Sha224(Hmac<sha2::Sha224>),
    Sha256(Hmac<sha2::Sha256>),
    Sha384(Hmac<sha2::Sha384>),
    Sha512(Hmac<sha2::Sha512>),
}

const ANY_KEY_LEN: &str = "HMAC takes keys of any length";

impl Hmacer {
    fn new(alg: Algorithm, secret: &[u8]) -> Hmacer {
        match alg {
            Algorithm::HmacMd5 => Hmacer::Md5(Mac::new_from_slice(secret).expect(ANY_KEY_LEN)),
            Algorithm::HmacSha1 => Hmacer::Sha1(Mac::new_from_slice(secret).expect(ANY_KEY_LEN)),
            Algorithm::HmacSha224 => {
                Hmacer::Sha224(Mac::new_from_slice(secret).expect(ANY_KEY_LEN))
            }
            Algorithm::HmacSha256 => {
                Hmacer::Sha256(Mac::new_from_slice(secret).expect(ANY_KEY_LEN))
            }
            Algorithm::HmacSha384 => {
                Hmacer::Sha384(Mac::new_from_slice(secret).expect(ANY_KEY_LEN))
            }
            Algorithm::HmacSha512 => {
                Hmacer::Sha512(Mac::new_from_slice(secret).expect(ANY_KEY_LEN))
            }
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Hmacer::Md5(h) => h.update(data),
            Hmacer::Sha1(h) => h.update(data),
            Hmacer::Sha224(h) => h.update(data),
            Hmacer::Sha256(h) => h.update(data),
            Hmacer::Sha384(h) => h.update(data),
            Hmacer::Sha512(h) => h.update(data),
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            Hmacer::Md5(h) => h.finalize().into_bytes().to_vec(),
            Hmacer::Sha1(h) => h.finalize().into_bytes().to_vec(),
            Hmacer::Sha224(h) => h.finalize().into_bytes().to_vec(),
            Hmacer::Sha256(h) => h.finalize().into_bytes().to_vec(),
            Hmacer::Sha384(h) => h.finalize().into_bytes().to_vec(),
            Hmacer::Sha512(h) => h.finalize().into_bytes().to_vec(),
        }
    }
}

/// A shared TSIG key.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    /// The key's name, which is the owner of the TSIG records it signs.
    pub name: Name,
    pub algorithm: Algorithm,
    pub secret: Vec<u8>,
}

impl Key {
    pub fn new(name: Name, algorithm: Algorithm, secret: impl Into<Vec<u8>>) -> Key {
        Key {
            name,
            algorithm,
            secret: secret.into(),
        }
    }

    /// A key whose secret is given in base64, as in BIND's `secret "..."`.
    /// Whitespace inside the text is ignored.
    pub fn from_base64(name: Name, algorithm: Algorithm, b64: &str) -> Result<Key, TsigError> {
        let compact: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
        let secret = base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .map_err(|_| TsigError::BadBase64)?;
        Ok(Key::new(name, algorithm, secret))
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field(
                "secret",
                &format_args!("<{} bytes hidden>", self.secret.len()),
            )
            .finish()
    }
}

/// Where [`verify_request`] finds keys.
pub trait KeyRing {
    /// The key called `name` (compared without regard to case) for
    /// `algorithm`, if there is one.
    fn find(&self, name: &Name, algorithm: Algorithm) -> Option<&Key>;
}

impl KeyRing for [Key] {
    fn find(&self, name: &Name, algorithm: Algorithm) -> Option<&Key> {
        self.iter()
            .find(|k| k.name == *name && k.algorithm == algorithm)
    }
}

impl KeyRing for Vec<Key> {
    fn find(&self, name: &Name, algorithm: Algorithm) -> Option<&Key> {
        self.as_slice().find(name, algorithm)
    }
}

impl KeyRing for HashMap<Name, Key> {
    fn find(&self, name: &Name, algorithm: Algorithm) -> Option<&Key> {
        self.get(name).filter(|k| k.algorithm == algorithm)
    }
}

impl KeyRing for Key {
    fn find(&self, name: &Name, algorithm: Algorithm) -> Option<&Key> {
        (self.name == *name && self.algorithm == algorithm).then_some(self)
    }
}

impl<K: KeyRing + ?Sized> KeyRing for &K {
    fn find(&self, name: &Name, algorithm: Algorithm) -> Option<&Key> {
        (**self).find(name, algorithm)
    }
}

/// The data of a TSIG record (RFC 8945 §4.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TsigRdata {
    /// Algorithm name, as received (compare with [`Algorithm::from_name`]).
    pub algorithm: Name,
    /// Seconds since the epoch; only the low 48 bits go on the wire.
    pub time_signed: u64,
    pub fudge: u16,
    pub mac: Vec<u8>,
    pub original_id: u16,
    /// Extended TSIG error (0, or BADSIG, BADKEY, BADTIME, BADTRUNC, ...).
    pub error: u16,
    /// Other data: the server's time when `error` is BADTIME.
    pub other: Vec<u8>,
}

fn take<'a>(data: &'a [u8], pos: &mut usize, n: usize) -> Result<&'a [u8], TsigError> {
    let end = pos.checked_add(n).ok_or(TsigError::Truncated)?;
    let s = data.get(*pos..end).ok_or(TsigError::Truncated)?;
    *pos = end;
    Ok(s)
}

fn take_u16(data: &[u8], pos: &mut usize) -> Result<u16, TsigError> {
    let b = take(data, pos, 2)?;
    Ok(u16::from_be_bytes([b[0], b[1]]))
}

fn u48_bytes(t: u64) -> [u8; 6] {
    let b = (t & MAX_TIME).to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

impl TsigRdata {
    /// Parses record data. The algorithm name must be uncompressed
    /// (RFC 8945 §4.2); any other shape is an error, never a panic.
    pub fn parse(data: &[u8]) -> Result<TsigRdata, TsigError> {
        let mut pos = 0;
        loop {
            let len = *data.get(pos).ok_or(TsigError::Truncated)? as usize;
            if len & 0xc0 != 0 {
                return Err(TsigError::BadAlgorithmName);
            }
            pos += 1 + len;
            if len == 0 {
                break;
            }
        }
        if pos > data.len() {
            return Err(TsigError::Truncated);
        }
        let algorithm =
            Name::from_wire(data[..pos].to_vec()).map_err(|_| TsigError::BadAlgorithmName)?;
        let t = take(data, &mut pos, 6)?;
        let time_signed = t.iter().fold(0u64, |acc, &b| acc << 8 | b as u64);
        let fudge = take_u16(data, &mut pos)?;
        let mac_len = take_u16(data, &mut pos)? as usize;
        let mac = take(data, &mut pos, mac_len)?.to_vec();
        let original_id = take_u16(data, &mut pos)?;
        let error = take_u16(data, &mut pos)?;
        let other_len = take_u16(data, &mut pos)? as usize;
        let other = take(data, &mut pos, other_len)?.to_vec();
        if pos != data.len() {
            return Err(TsigError::TrailingData(data.len() - pos));
        }
        Ok(TsigRdata {
            algorithm,
            time_signed,
            fudge,
            mac,
            original_id,
            error,
            other,
        })
    }

    /// Encodes the record data (algorithm name uncompressed, as received).
    /// Fails if the MAC or other data is longer than 65535 bytes.
    pub fn encode(&self) -> Result<Vec<u8>, TsigError> {
        let mac_len = u16::try_from(self.mac.len()).map_err(|_| TsigError::RdataTooLong)?;
        let other_len = u16::try_from(self.other.len()).map_err(|_| TsigError::RdataTooLong)?;
        let mut out = Vec::with_capacity(self.wire_len());
        out.extend_from_slice(self.algorithm.as_wire());
        out.extend_from_slice(&u48_bytes(self.time_signed));
        out.extend_from_slice(&self.fudge.to_be_bytes());
        out.extend_from_slice(&mac_len.to_be_bytes());
        out.extend_from_slice(&self.mac);
        out.extend_from_slice(&self.original_id.to_be_bytes());
        out.extend_from_slice(&self.error.to_be_bytes());
        out.extend_from_slice(&other_len.to_be_bytes());
        out.extend_from_slice(&self.other);
        if out.len() > u16::MAX as usize {
            return Err(TsigError::RdataTooLong);
        }
        Ok(out)
    }

    /// Length of the encoded record data.
    pub fn wire_len(&self) -> usize {
        self.algorithm.wire_len() + 16 + self.mac.len() + self.other.len()
    }

    /// The algorithm, if it is one we implement.
    pub fn known_algorithm(&self) -> Option<Algorithm> {
        Algorithm::from_name(&self.algorithm)
    }

    /// The server's clock from the other data of a BADTIME answer.
    pub fn server_time(&self) -> Option<u64> {
        (self.error == BADTIME && self.other.len() == 6)
            .then(|| self.other.iter().fold(0u64, |acc, &b| acc << 8 | b as u64))
    }

    /// The whole TSIG record owned by `key_name` (class ANY, TTL 0).
    pub fn to_record(&self, key_name: &Name) -> Result<Record, TsigError> {
        Ok(Record::new(
            key_name.clone(),
            Rtype::TSIG,
            Class::ANY,
            0,
            self.encode()?,
        ))
    }
}

/// Which TSIG variables (RFC 8945 §4.3.3) close the MAC input.
enum Variables<'a> {
    /// All of them: key name, class, TTL, algorithm, times, error, other.
    Full {
        key_name: &'a Name,
        rd: &'a TsigRdata,
    },
    /// Only Time Signed and Fudge, for the later messages of a sequence.
    Timers { time_signed: u64, fudge: u16 },
}

/// Computes a full-length MAC over: the prior MAC with its length (the
/// request MAC of a response, or the previous MAC in a sequence), any
/// unsigned messages received since, the header and the rest of this
/// message without its TSIG record, and the TSIG variables.
fn digest(
    key: &Key,
    prior_mac: Option<&[u8]>,
    unsigned: &[u8],
    header: &[u8],
    body: &[u8],
    vars: Variables<'_>,
) -> Vec<u8> {
    let mut h = Hmacer::new(key.algorithm, &key.secret);
    if let Some(mac) = prior_mac {
        h.update(&(mac.len() as u16).to_be_bytes());
        h.update(mac);
    }
    h.update(unsigned);
    h.update(header);
    h.update(body);
    match vars {
        Variables::Full { key_name, rd } => {
            h.update(key_name.to_lowercase().as_wire());
            h.update(&Class::ANY.to_int().to_be_bytes());
            h.update(&0u32.to_be_bytes());
            h.update(rd.algorithm.to_lowercase().as_wire());
            h.update(&u48_bytes(rd.time_signed));
            h.update(&rd.fudge.to_be_bytes());
            h.update(&rd.error.to_be_bytes());
            h.update(&(rd.other.len() as u16).to_be_bytes());
            h.update(&rd.other);
        }
        Variables::Timers { time_signed, fudge } => {
            h.update(&u48_bytes(time_signed));
            h.update(&fudge.to_be_bytes());
        }
    }
    h.finish()
}

/// Compares without an early exit, so timing does not reveal how many
/// leading bytes of a forged MAC were right.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// True if `mac` is an acceptable (possibly truncated, §5.2.2.1) MAC for
/// `alg` that equals the start of `full`.
fn mac_matches(full: &[u8], mac: &[u8]) -> bool {
    mac.len() <= full.len() && ct_eq(&full[..mac.len()], mac)
}

fn check_mac_len(alg: Algorithm, mac: &[u8]) -> Result<(), TsigError> {
    if mac.len() > alg.mac_len() || mac.len() < alg.min_mac_len() {
        return Err(TsigError::BadMacLength {
            len: mac.len(),
            full: alg.mac_len(),
        });
    }
    Ok(())
}

fn within_fudge(time_signed: u64, fudge: u16, now: u64) -> bool {
    time_signed.abs_diff(now) <= fudge as u64
}

/// Appends a TSIG record to a finished message and increments ARCOUNT.
/// The message must not already end in a TSIG record.
pub fn append_tsig(msg: &mut Vec<u8>, key_name: &Name, rd: &TsigRdata) -> Result<(), TsigError> {
    if msg.len() < HEADER_LEN {
        return Err(TsigError::ShortMessage);
    }
    let arcount = u16::from_be_bytes([msg[10], msg[11]])
        .checked_add(1)
        .ok_or(TsigError::TooManyRecords)?;
    let rdata = rd.encode()?;
    msg[10..12].copy_from_slice(&arcount.to_be_bytes());
    msg.extend_from_slice(key_name.as_wire());
    msg.extend_from_slice(&Rtype::TSIG.to_int().to_be_bytes());
    msg.extend_from_slice(&Class::ANY.to_int().to_be_bytes());
    msg.extend_from_slice(&0u32.to_be_bytes());
    msg.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    msg.extend_from_slice(&rdata);
    Ok(())
}

/// Wire length of a TSIG record for `key` with an untruncated MAC and
/// `other_len` bytes of other data: what to [`reserve`] in a
/// [`MessageWriter`] before signing.
///
/// [`reserve`]: crate::MessageWriter::reserve
/// [`MessageWriter`]: crate::MessageWriter
pub fn tsig_len(key: &Key, other_len: usize) -> usize {
    key.name.wire_len()
        + 10
        + key.algorithm.wire_name().len()
        + 16
        + key.algorithm.mac_len()
        + other_len
}

/// Signs `msg` (whose ID is the original ID) and appends the record.
/// Returns the MAC.
#[allow(clippy::too_many_arguments)]
fn sign_message(
    msg: &mut Vec<u8>,
    key: &Key,
    prior_mac: Option<&[u8]>,
    unsigned: &[u8],
    time_signed: u64,
    fudge: u16,
    error: u16,
    other: Vec<u8>,
    timers_only: bool,
) -> Result<Vec<u8>, TsigError> {
    if msg.len() < HEADER_LEN {
        return Err(TsigError::ShortMessage);
    }
    let mut rd = TsigRdata {
        algorithm: key.algorithm.name(),
        time_signed: time_signed & MAX_TIME,
        fudge,
        mac: Vec::new(),
        original_id: u16::from_be_bytes([msg[0], msg[1]]),
        error,
        other,
    };
    let vars = if timers_only {
        Variables::Timers {
            time_signed: rd.time_signed,
            fudge,
        }
    } else {
        Variables::Full {
            key_name: &key.name,
            rd: &rd,
        }
    };
    let mac = digest(
        key,
        prior_mac,
        unsigned,
        &msg[..HEADER_LEN],
        &msg[HEADER_LEN..],
        vars,
    );
    rd.mac = mac.clone();
    append_tsig(msg, &key.name, &rd)?;
    Ok(mac)
}

/// The pieces of a received signed message that the MAC covers: its
/// header as the signer saw it (original ID, ARCOUNT without the TSIG)
/// and the bytes between the header and the TSIG record.
struct Received<'a> {
    header: [u8; HEADER_LEN],
    body: &'a [u8],
    key_name: &'a Name,
    rd: TsigRdata,
}

fn received<'a>(msg: &'a [u8], parsed: &'a Message) -> Result<Option<Received<'a>>, TsigError> {
    let Some(tsig) = &parsed.tsig else {
        return Ok(None);
    };
    if tsig.record.class != Class::ANY {
        return Err(TsigError::BadClass(tsig.record.class));
    }
    let rd = TsigRdata::parse(&tsig.record.rdata)?;
    if tsig.offset < HEADER_LEN || tsig.offset > msg.len() {
        return Err(TsigError::BadOffset);
    }
    let mut header = [0u8; HEADER_LEN];
    header.copy_from_slice(&msg[..HEADER_LEN]);
    let arcount = u16::from_be_bytes([header[10], header[11]])
        .checked_sub(1)
        .ok_or(TsigError::BadOffset)?;
    header[0..2].copy_from_slice(&rd.original_id.to_be_bytes());
    header[10..12].copy_from_slice(&arcount.to_be_bytes());
    Ok(Some(Received {
        header,
        body: &msg[HEADER_LEN..tsig.offset],
        key_name: &tsig.record.owner,
        rd,
    }))
}

impl Received<'_> {
    fn mac(&self, key: &Key, prior: Option<&[u8]>, unsigned: &[u8], timers_only: bool) -> Vec<u8> {
        let vars = if timers_only {
            Variables::Timers {
                time_signed: self.rd.time_signed,
                fudge: self.rd.fudge,
            }
        } else {
            Variables::Full {
                key_name: self.key_name,
                rd: &self.rd,
            }
        };
        digest(key, prior, unsigned, &self.header, self.body, vars)
    }
}

// ---------------------------------------------------------------------------
// Server side

/// Local verification policy beyond what RFC 8945 requires.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Shortest truncated MAC accepted (RFC 8945 §5.2.4). MACs the RFC
    /// allows but shorter than this are answered with BADTRUNC. 0 accepts
    /// every length the RFC allows.
    pub min_mac_len: usize,
}

/// A request whose TSIG verified: signs the answer(s) to it.
#[derive(Clone, Debug)]
pub struct RequestContext {
    key: Key,
    request_mac: Vec<u8>,
    fudge: u16,
    now: u64,
}

impl RequestContext {
    /// The key that signed the request (for access control).
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// The request's MAC, as received (possibly truncated).
    pub fn request_mac(&self) -> &[u8] {
        &self.request_mac
    }

    /// Space to reserve in the response for its TSIG record.
    pub fn tsig_len(&self) -> usize {
        tsig_len(&self.key, 0)
    }

    /// Signs a finished response (RFC 8945 §5.3): the MAC covers the
    /// request MAC, the response and the TSIG variables, with Time Signed
    /// set to the `now` the request was verified at and the request's
    /// fudge. Appends the TSIG record and increments ARCOUNT.
    pub fn sign_response(&self, response: &mut Vec<u8>) -> Result<(), TsigError> {
        self.sign_response_at(response, self.now)
    }

    /// As [`sign_response`](Self::sign_response) with another time.
    pub fn sign_response_at(&self, response: &mut Vec<u8>, now: u64) -> Result<(), TsigError> {
        sign_message(
            response,
            &self.key,
            Some(&self.request_mac),
            &[],
            now,
            self.fudge,
            0,
            Vec::new(),
            false,
        )
        .map(drop)
    }

    /// A signer for an answer of several messages (AXFR, IXFR over TCP).
    pub fn sequence_signer(&self) -> SequenceSigner {
        SequenceSigner {
            key: self.key.clone(),
            prev_mac: self.request_mac.clone(),
            first: true,
            fudge: self.fudge,
            unsigned: Vec::new(),
            unsigned_run: 0,
        }
    }
}

/// Signs the messages of a multi-message answer (RFC 8945 §5.3.1). The
/// first signed message covers the request MAC and all TSIG variables;
/// each later one covers the previous MAC, the messages since, and only
/// the timers.
#[derive(Clone, Debug)]
pub struct SequenceSigner {
    key: Key,
    prev_mac: Vec<u8>,
    first: bool,
    fudge: u16,
    unsigned: Vec<u8>,
    unsigned_run: usize,
}

impl SequenceSigner {
    /// Signs the next message.
    pub fn sign(&mut self, msg: &mut Vec<u8>, now: u64) -> Result<(), TsigError> {
        let mac = sign_message(
            msg,
            &self.key,
            Some(&self.prev_mac),
            &self.unsigned,
            now,
            self.fudge,
            0,
            Vec::new(),
            !self.first,
        )?;
        self.prev_mac = mac;
        self.first = false;
        self.unsigned.clear();
        self.unsigned_run = 0;
        Ok(())
    }

    /// Records that `msg` goes out unsigned; it is covered by the next
    /// signed message. Returns false (and records nothing) when the message
    /// must be signed instead: the first message, and after 99 unsigned.
    pub fn leave_unsigned(&mut self, msg: &[u8]) -> bool {
        if self.first || self.unsigned_run >= MAX_UNSIGNED_RUN {
            return false;
        }
        self.unsigned.extend_from_slice(msg);
        self.unsigned_run += 1;
        true
    }

    /// Space to reserve in each message for its TSIG record.
    pub fn tsig_len(&self) -> usize {
        tsig_len(&self.key, 0)
    }
}

/// What a server sends back when a request's TSIG fails: the TSIG record
/// (and whether to sign it) for the error response.
#[derive(Clone, Debug)]
pub struct ErrorReply {
    key_name: Name,
    algorithm: Name,
    time_signed: u64,
    fudge: u16,
    error: u16,
    other: Vec<u8>,
    /// The key and request MAC when the reply is signed (§5.3.2).
    signer: Option<(Key, Vec<u8>)>,
}

impl ErrorReply {
    fn unsigned(key_name: &Name, rd: &TsigRdata, error: u16) -> ErrorReply {
        ErrorReply {
            key_name: key_name.clone(),
            algorithm: rd.algorithm.clone(),
            time_signed: rd.time_signed,
            fudge: rd.fudge,
            error,
            other: Vec::new(),
            signer: None,
        }
    }

    /// The TSIG error code carried.
    pub fn error(&self) -> u16 {
        self.error
    }

    /// True if the reply's TSIG record carries a MAC.
    pub fn is_signed(&self) -> bool {
        self.signer.is_some()
    }

    /// Appends the error TSIG record to a finished response (whose RCODE
    /// the caller sets to NOTAUTH) and increments ARCOUNT. BADKEY and
    /// BADSIG get an unsigned record (empty MAC); BADTIME and BADTRUNC a
    /// signed one covering the request MAC, the response and the variables.
    pub fn append_to(&self, response: &mut Vec<u8>) -> Result<(), TsigError> {
        match &self.signer {
            Some((key, request_mac)) => sign_message(
                response,
                key,
                Some(request_mac),
                &[],
                self.time_signed,
                self.fudge,
                self.error,
                self.other.clone(),
                false,
            )
            .map(drop),
            None => {
                if response.len() < HEADER_LEN {
                    return Err(TsigError::ShortMessage);
                }
                let rd = TsigRdata {
                    algorithm: self.algorithm.clone(),
                    time_signed: self.time_signed,
                    fudge: self.fudge,
                    mac: Vec::new(),
                    original_id: u16::from_be_bytes([response[0], response[1]]),
                    error: self.error,
                    other: self.other.clone(),
                };
                append_tsig(response, &self.key_name, &rd)
            }
        }
    }
}

/// Why a request's TSIG was refused, in the order RFC 8945 §5.2 checks.
#[derive(Clone, Debug, thiserror::Error)]
pub enum TsigFailure {
    /// The TSIG record is malformed, or its MAC is longer than the
    /// algorithm's or shorter than RFC 8945 §5.2.2.1 allows (the larger of
    /// 10 bytes and half the full length). The RFC says such a message
    /// "MUST be dropped and RCODE 1 (FORMERR) returned", so this is
    /// FORMERR without a TSIG record, not BADTRUNC: BADTRUNC (§5.2.4) is
    /// for lengths the RFC allows but local [`Policy`] does not.
    #[error("malformed TSIG: {0}")]
    FormErr(TsigError),
    /// Unknown key name or algorithm (§5.2.1).
    #[error("TSIG key unknown (BADKEY)")]
    BadKey(Box<ErrorReply>),
    /// The MAC did not verify (§5.2.2).
    #[error("TSIG MAC does not verify (BADSIG)")]
    BadSig(Box<ErrorReply>),
    /// The MAC verified but the time signed is outside the fudge (§5.2.3).
    /// The reply is signed; its Time Signed and Fudge echo the request (as
    /// BIND does, so the client's own clock does not matter) and its Other
    /// Data holds the server's `now` as 48 bits.
    #[error("TSIG time outside the fudge window (BADTIME)")]
    BadTime(Box<ErrorReply>),
    /// The MAC verified but is shorter than local policy accepts (§5.2.4).
    #[error("TSIG MAC truncated below local policy (BADTRUNC)")]
    BadTrunc(Box<ErrorReply>),
}

impl TsigFailure {
    /// The RCODE of the error response: FORMERR or NOTAUTH.
    pub fn rcode(&self) -> Rcode {
        match self {
            TsigFailure::FormErr(_) => Rcode::FORMERR,
            _ => Rcode::NOTAUTH,
        }
    }

    /// The TSIG record to put in the error response, if any.
    pub fn reply(&self) -> Option<&ErrorReply> {
        match self {
            TsigFailure::FormErr(_) => None,
            TsigFailure::BadKey(r)
            | TsigFailure::BadSig(r)
            | TsigFailure::BadTime(r)
            | TsigFailure::BadTrunc(r) => Some(&**r),
        }
    }

    /// The TSIG error code (0 for FORMERR).
    pub fn tsig_error(&self) -> u16 {
        self.reply().map_or(0, ErrorReply::error)
    }

    /// Appends the error TSIG record, if this failure has one, to a
    /// finished error response. See [`ErrorReply::append_to`].
    pub fn append_to(&self, response: &mut Vec<u8>) -> Result<(), TsigError> {
        match self.reply() {
            Some(r) => r.append_to(response),
            None => Ok(()),
        }
    }
}

/// Verifies the TSIG of a request (RFC 8945 §5.2) with no local policy.
/// `msg` is the message as received and `parsed` its parse. Returns
/// `Ok(None)` for an unsigned message, and a context that signs the
/// response for a good signature.
///
/// The checks run in the RFC's order: key name and algorithm (BADKEY),
/// MAC length (FORMERR), MAC (BADSIG), time (BADTIME), then local
/// truncation policy (BADTRUNC). On failure, answer with
/// [`TsigFailure::rcode`] and add the TSIG record with
/// [`TsigFailure::append_to`] once the response is otherwise finished.
/// No replay cache is kept here: RFC 8945's SHOULD about remembering the
/// last Time Signed per key is the caller's.
pub fn verify_request<K: KeyRing + ?Sized>(
    msg: &[u8],
    parsed: &Message,
    keyring: &K,
    now: u64,
) -> Result<Option<RequestContext>, TsigFailure> {
    verify_request_with(msg, parsed, keyring, now, Policy::default())
}

/// [`verify_request`] with a local [`Policy`].
pub fn verify_request_with<K: KeyRing + ?Sized>(
    msg: &[u8],
    parsed: &Message,
    keyring: &K,
    now: u64,
    policy: Policy,
) -> Result<Option<RequestContext>, TsigFailure> {
    let Some(r) = received(msg, parsed).map_err(TsigFailure::FormErr)? else {
        return Ok(None);
    };
    // §5.2.1: key and algorithm.
    let key =
        r.rd.known_algorithm()
            .and_then(|alg| keyring.find(r.key_name, alg));
    let Some(key) = key else {
        return Err(TsigFailure::BadKey(Box::new(ErrorReply::unsigned(
            r.key_name, &r.rd, BADKEY,
        ))));
    };
    // §5.2.2.1: MAC length, then §5.2.2: the MAC itself.
    check_mac_len(key.algorithm, &r.rd.mac).map_err(TsigFailure::FormErr)?;
    let full = r.mac(key, None, &[], false);
    if !mac_matches(&full, &r.rd.mac) {
        return Err(TsigFailure::BadSig(Box::new(ErrorReply::unsigned(
            r.key_name, &r.rd, BADSIG,
        ))));
    }
    let signed_error = |error: u16, other: Vec<u8>| ErrorReply {
        key_name: key.name.clone(),
        algorithm: key.algorithm.name(),
        time_signed: r.rd.time_signed,
        fudge: r.rd.fudge,
        error,
        other,
        signer: Some((key.clone(), r.rd.mac.clone())),
    };
    // §5.2.3: time, only once the MAC is known to be good.
    if !within_fudge(r.rd.time_signed, r.rd.fudge, now) {
        return Err(TsigFailure::BadTime(Box::new(signed_error(
            BADTIME,
            u48_bytes(now).to_vec(),
        ))));
    }
    // §5.2.4: local truncation policy.
    if r.rd.mac.len() < policy.min_mac_len.min(key.algorithm.mac_len()) {
        return Err(TsigFailure::BadTrunc(Box::new(signed_error(
            BADTRUNC,
            Vec::new(),
        ))));
    }
    Ok(Some(RequestContext {
        key: key.clone(),
        request_mac: r.rd.mac,
        fudge: r.rd.fudge,
        now,
    }))
}

/// An unsigned TSIG record for an error response (BADKEY, BADSIG, or any
/// error the caller cannot sign): empty MAC, `error` set.
pub fn unsigned_error_record(
    key_name: &Name,
    algorithm: &Name,
    original_id: u16,
    time_signed: u64,
    fudge: u16,
    error: u16,
) -> Result<Record, TsigError> {
    TsigRdata {
        algorithm: algorithm.clone(),
        time_signed,
        fudge,
        mac: Vec::new(),
        original_id,
        error,
        other: Vec::new(),
    }
    .to_record(key_name)
}

// ---------------------------------------------------------------------------
// Client side

/// Why a response did not verify on the client.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Malformed(#[from] TsigError),
    #[error("response is not signed")]
    Unsigned,
    #[error("response is signed with another key or algorithm")]
    WrongKey,
    #[error("response MAC does not verify")]
    BadSig,
    #[error("response time signed {time_signed} is more than {fudge}s from now ({now})")]
    BadTime {
        time_signed: u64,
        fudge: u16,
        now: u64,
    },
    /// The server answered with a TSIG error. `verified` tells whether the
    /// answer's MAC checked out (BADTIME and BADTRUNC answers are signed;
    /// BADKEY and BADSIG ones are not and may be forged).
    #[error("server reported TSIG error {code}")]
    Server {
        code: u16,
        other: Vec<u8>,
        verified: bool,
    },
    #[error("more than 99 unsigned messages in a row")]
    TooManyUnsigned,
    #[error("the last message of the sequence is not signed")]
    UnsignedTail,
}

impl VerifyError {
    /// The server's clock from a verified BADTIME answer.
    pub fn server_time(&self) -> Option<u64> {
        match self {
            VerifyError::Server {
                code: BADTIME,
                other,
                verified: true,
            } if other.len() == 6 => Some(other.iter().fold(0, |acc, &b| acc << 8 | b as u64)),
            _ => None,
        }
    }
}

/// Signs a request with `key` (RFC 8945 §5.1): the ID in the message
/// becomes the original ID. Appends the TSIG record, increments ARCOUNT,
/// and returns the context that verifies the answer.
pub fn sign_request(
    msg: &mut Vec<u8>,
    key: &Key,
    now: u64,
    fudge: u16,
) -> Result<ClientContext, TsigError> {
    let mac = sign_message(msg, key, None, &[], now, fudge, 0, Vec::new(), false)?;
    Ok(ClientContext {
        key: key.clone(),
        request_mac: mac,
    })
}

/// A signed request in flight: verifies its answer.
#[derive(Clone, Debug)]
pub struct ClientContext {
    key: Key,
    request_mac: Vec<u8>,
}

impl ClientContext {
    pub fn key(&self) -> &Key {
        &self.key
    }

    pub fn request_mac(&self) -> &[u8] {
        &self.request_mac
    }

    /// Verifies a single-message response as received.
    pub fn verify_response(&self, bytes: &[u8], now: u64) -> Result<(), VerifyError> {
        let parsed = Message::parse(bytes).map_err(TsigError::from)?;
        self.verify_parsed_response(bytes, &parsed, now)
    }

    /// Verifies a response already parsed into `parsed`.
    pub fn verify_parsed_response(
        &self,
        bytes: &[u8],
        parsed: &Message,
        now: u64,
    ) -> Result<(), VerifyError> {
        self.sequence_verifier().verify_parsed(bytes, parsed, now)
    }

    /// A verifier for a multi-message answer (AXFR, IXFR over TCP).
    pub fn sequence_verifier(&self) -> SequenceVerifier {
        SequenceVerifier {
            key: self.key.clone(),
            prev_mac: self.request_mac.clone(),
            first: true,
            unsigned: Vec::new(),
            unsigned_run: 0,
        }
    }
}

/// Verifies the messages of a multi-message answer in order (RFC 8945
/// §5.3.1). The first must be signed; up to 99 unsigned messages may
/// follow a signed one, and are covered by the next signed message. Call
/// [`finish`](Self::finish) after the last one.
#[derive(Clone, Debug)]
pub struct SequenceVerifier {
    key: Key,
    prev_mac: Vec<u8>,
    first: bool,
    unsigned: Vec<u8>,
    unsigned_run: usize,
}

impl SequenceVerifier {
    /// Verifies the next message as received.
    pub fn verify(&mut self, bytes: &[u8], now: u64) -> Result<(), VerifyError> {
        let parsed = Message::parse(bytes).map_err(TsigError::from)?;
        self.verify_parsed(bytes, &parsed, now)
    }

    /// Verifies the next message, already parsed into `parsed`.
    pub fn verify_parsed(
        &mut self,
        bytes: &[u8],
        parsed: &Message,
        now: u64,
    ) -> Result<(), VerifyError> {
        let Some(r) = received(bytes, parsed)? else {
            if self.first {
                return Err(VerifyError::Unsigned);
            }
            if self.unsigned_run >= MAX_UNSIGNED_RUN {
                return Err(VerifyError::TooManyUnsigned);
            }
            self.unsigned.extend_from_slice(bytes);
            self.unsigned_run += 1;
            return Ok(());
        };
        if *r.key_name != self.key.name || r.rd.known_algorithm() != Some(self.key.algorithm) {
            return Err(VerifyError::WrongKey);
        }
        if r.rd.error != 0 && r.rd.mac.is_empty() {
            return Err(VerifyError::Server {
                code: r.rd.error,
                other: r.rd.other,
                verified: false,
            });
        }
        check_mac_len(self.key.algorithm, &r.rd.mac)?;
        let full = r.mac(&self.key, Some(&self.prev_mac), &self.unsigned, !self.first);
        if !mac_matches(&full, &r.rd.mac) {
            return Err(VerifyError::BadSig);
        }
        if r.rd.error != 0 {
            return Err(VerifyError::Server {
                code: r.rd.error,
                other: r.rd.other,
                verified: true,
            });
        }
        if !within_fudge(r.rd.time_signed, r.rd.fudge, now) {
            return Err(VerifyError::BadTime {
                time_signed: r.rd.time_signed,
                fudge: r.rd.fudge,
                now,
            });
        }
        self.prev_mac = r.rd.mac;
        self.first = false;
        self.unsigned.clear();
        self.unsigned_run = 0;
        Ok(())
    }

    /// Checks that the answer ended on a signed message.
    pub fn finish(&self) -> Result<(), VerifyError> {
        if self.first {
            Err(VerifyError::Unsigned)
        } else if self.unsigned_run > 0 {
            Err(VerifyError::UnsignedTail)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names_round_trip() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(&alg.name()), Some(alg));
            assert_eq!(alg.to_string().parse::<Algorithm>().unwrap(), alg);
            assert_eq!(alg.name().to_string().parse::<Algorithm>().unwrap(), alg);
            assert_eq!(alg.hmac(b"k", b"d").len(), alg.mac_len());
        }
        assert_eq!(
            "HMAC-MD5.SIG-ALG.REG.INT".parse::<Algorithm>().unwrap(),
            Algorithm::HmacMd5
        );
        assert!("hmac-sha3".parse::<Algorithm>().is_err());
    }

    #[test]
    fn key_debug_hides_secret() {
        let k = Key::new(
            "k.".parse().unwrap(),
            Algorithm::HmacSha256,
            b"sekrit".to_vec(),
        );
        let s = format!("{k:?}");
        assert!(!s.contains("sekrit") && !s.contains("115"), "{s}");
    }
}
