//! The client FQDN option, DHCPv4 option 81 (RFC 4702).
//!
//! ```text
//!   code  len   flags  rcode1  rcode2  domain name ...
//!   81    n     0000NEOS
//! ```
//!
//! - **S**: from the client, "please do the A update for me"; from the
//!   server, "I do it".
//! - **O**: only from the server: its S differs from what the client asked.
//! - **E**: the name is in DNS wire format (else the deprecated ASCII
//!   form). The server answers in the client's encoding.
//! - **N**: from the client, "do no updates at all"; from the server, "I do
//!   none". N=1 requires S=0.
//!
//! RCODE1 and RCODE2 are deprecated: clients send 0, servers 255 (§2.2).
//!
//! The name may be a whole FQDN or a partial name (in wire form: labels
//! without the closing root label; in ASCII: no final dot). An empty name
//! asks the server to choose one.
//!
//! [`ClientFqdn::parse`] takes whatever a client sent and never panics; a
//! malformed option is an error and the server then treats the request as
//! if it had no option 81.

/// Server does (client: wants the server to do) the A update.
pub const FLAG_S: u8 = 0x01;
/// Server overrode the client's S.
pub const FLAG_O: u8 = 0x02;
/// The name is in canonical wire format.
pub const FLAG_E: u8 = 0x04;
/// No server updates.
pub const FLAG_N: u8 = 0x08;

const MAX_NAME: usize = 255;
const MAX_LABEL: usize = 63;

/// Why an option 81 was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FqdnError {
    #[error("shorter than its 3 fixed octets")]
    TooShort,
    #[error("a label is longer than 63 octets")]
    LabelTooLong,
    #[error("the name is longer than 255 octets")]
    NameTooLong,
    #[error("a label runs past the end of the option")]
    Truncated,
    #[error("data after the root label")]
    TrailingData,
    #[error("an empty label inside the name")]
    EmptyLabel,
}

/// An option 81 as sent or to be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientFqdn {
    pub flags: u8,
    pub rcode1: u8,
    pub rcode2: u8,
    /// The name's labels, left to right, as octets.
    pub labels: Vec<Vec<u8>>,
    /// True for a fully qualified name (wire form ended by the root label,
    /// or ASCII ending in a dot); false for a partial name.
    pub absolute: bool,
}

impl ClientFqdn {
    /// Reads an option 81 value (without code and length).
    pub fn parse(value: &[u8]) -> Result<ClientFqdn, FqdnError> {
        let [flags, rcode1, rcode2, name @ ..] = value else {
            return Err(FqdnError::TooShort);
        };
        let (labels, absolute) = if flags & FLAG_E != 0 {
            wire_labels(name)?
        } else {
            ascii_labels(name)?
        };
        let total: usize = labels.iter().map(|l| l.len() + 1).sum::<usize>() + 1;
        if total > MAX_NAME {
            return Err(FqdnError::NameTooLong);
        }
        Ok(ClientFqdn {
            flags: *flags,
            rcode1: *rcode1,
            rcode2: *rcode2,
            // The root alone is no name at all: "choose one for me".
            absolute: absolute && !labels.is_empty(),
            labels,
        })
    }

    /// The option value, the name in the encoding the E flag says.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.flags, self.rcode1, self.rcode2];
        if self.flags & FLAG_E != 0 {
            for l in &self.labels {
                out.push(l.len() as u8);
                out.extend_from_slice(l);
            }
            if self.absolute && !self.labels.is_empty() {
                out.push(0);
            }
        } else {
            for (i, l) in self.labels.iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(l);
            }
            if self.absolute && !self.labels.is_empty() {
                out.push(b'.');
            }
        }
        out
    }

    pub fn s(&self) -> bool {
        self.flags & FLAG_S != 0
    }

    pub fn n(&self) -> bool {
        self.flags & FLAG_N != 0
    }

    pub fn e(&self) -> bool {
        self.flags & FLAG_E != 0
    }

    /// The first label: the host part of the name.
    pub fn host_label(&self) -> Option<&[u8]> {
        self.labels.first().map(Vec::as_slice)
    }

    /// True if the name has a domain part (more than one label).
    pub fn is_qualified(&self) -> bool {
        self.labels.len() > 1
    }

    /// The name as text, with a final dot (labels taken as given; names
    /// from clients are checked by the caller before use).
    pub fn name_text(&self) -> String {
        let mut s = String::new();
        for l in &self.labels {
            s.push_str(&String::from_utf8_lossy(l));
            s.push('.');
        }
        s
    }
}

/// Labels of a wire-format name without compression; a name that stops
/// before its root label is partial.
fn wire_labels(mut b: &[u8]) -> Result<(Vec<Vec<u8>>, bool), FqdnError> {
    let mut labels = Vec::new();
    while let Some((&len, rest)) = b.split_first() {
        let len = usize::from(len);
        if len == 0 {
            if !rest.is_empty() {
                return Err(FqdnError::TrailingData);
            }
            return Ok((labels, true));
        }
        if len > MAX_LABEL {
            // Also refuses compression pointers (0xc0 and up).
            return Err(FqdnError::LabelTooLong);
        }
        let label = rest.get(..len).ok_or(FqdnError::Truncated)?;
        labels.push(label.to_vec());
        b = &rest[len..];
    }
    Ok((labels, false))
}

/// Labels of the deprecated ASCII form. Some clients end it with a NUL,
/// which is dropped (dhcpd does the same).
fn ascii_labels(b: &[u8]) -> Result<(Vec<Vec<u8>>, bool), FqdnError> {
    let mut b = b;
    while let [rest @ .., 0] = b {
        b = rest;
    }
    if b.is_empty() {
        return Ok((Vec::new(), false));
    }
    let absolute = b.ends_with(b".");
    let body = if absolute { &b[..b.len() - 1] } else { b };
    if body.is_empty() {
        return Ok((Vec::new(), true));
    }
    let mut labels = Vec::new();
    for l in body.split(|&c| c == b'.') {
        if l.is_empty() {
            return Err(FqdnError::EmptyLabel);
        }
        if l.len() > MAX_LABEL {
            return Err(FqdnError::LabelTooLong);
        }
        labels.push(l.to_vec());
    }
    Ok((labels, absolute))
}

/// What the server will do for a client that sent option 81, as the
/// answer's flags must say it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerRole {
    /// The server updates the A record (and the PTR).
    Forward,
    /// The client updates its A record; the server only the PTR.
    ReverseOnly,
    /// The server updates nothing.
    Nothing,
}

/// The server's answer to `asked`: flags per RFC 4702 §2.1 and §4, the
/// client's encoding, RCODEs 255, and `name` (the FQDN the server uses,
/// or the client's own when the server has none).
///
/// - S is 1 exactly when the server does the A update;
/// - N is 1 exactly when the server does no update at all;
/// - O is 1 when the server's S differs from the client's.
pub fn answer(asked: &ClientFqdn, role: ServerRole, name: Option<&[Vec<u8>]>) -> ClientFqdn {
    let s = role == ServerRole::Forward;
    let mut flags = asked.flags & FLAG_E;
    if s {
        flags |= FLAG_S;
    }
    if role == ServerRole::Nothing {
        flags |= FLAG_N;
    }
    if s != asked.s() {
        flags |= FLAG_O;
    }
    let (labels, absolute) = match name {
        Some(l) => (l.to_vec(), true),
        None => (asked.labels.clone(), asked.absolute),
    };
    ClientFqdn {
        flags,
        rcode1: 255,
        rcode2: 255,
        labels,
        absolute,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_and_ascii() {
        let w = ClientFqdn::parse(b"\x05\0\0\x06laptop\x04home\0").unwrap();
        assert_eq!(w.labels, vec![b"laptop".to_vec(), b"home".to_vec()]);
        assert!(w.absolute && w.s() && w.e() && !w.n());
        assert_eq!(w.encode(), b"\x05\0\0\x06laptop\x04home\0");
        let partial = ClientFqdn::parse(b"\x05\0\0\x06laptop").unwrap();
        assert!(!partial.absolute);
        assert_eq!(partial.encode(), b"\x05\0\0\x06laptop");
        let a = ClientFqdn::parse(b"\x01\0\0laptop.home.\0").unwrap();
        assert!(a.absolute && !a.e());
        assert_eq!(a.encode(), b"\x01\0\0laptop.home.");
        let empty = ClientFqdn::parse(b"\x01\0\0").unwrap();
        assert!(empty.labels.is_empty());
        // The root alone is the empty name too (found by the fuzzer).
        for v in [&b"\x05\0\0\0"[..], b"\x01\0\0."] {
            let root = ClientFqdn::parse(v).unwrap();
            assert!(root.labels.is_empty() && !root.absolute);
            assert_eq!(ClientFqdn::parse(&root.encode()).unwrap(), root);
        }
    }

    #[test]
    fn malformed() {
        assert_eq!(ClientFqdn::parse(b"\x05\0"), Err(FqdnError::TooShort));
        assert_eq!(
            ClientFqdn::parse(b"\x05\0\0\xc0\x0c"),
            Err(FqdnError::LabelTooLong)
        );
        assert_eq!(
            ClientFqdn::parse(b"\x05\0\0\x09laptop"),
            Err(FqdnError::Truncated)
        );
        assert_eq!(
            ClientFqdn::parse(b"\x05\0\0\x01a\0x"),
            Err(FqdnError::TrailingData)
        );
        assert_eq!(
            ClientFqdn::parse(b"\x00\0\0a..b"),
            Err(FqdnError::EmptyLabel)
        );
    }

    #[test]
    fn answer_flags() {
        let ask = |flags| ClientFqdn {
            flags,
            rcode1: 0,
            rcode2: 0,
            labels: vec![b"pc".to_vec()],
            absolute: false,
        };
        let name = [b"pc".to_vec(), b"home".to_vec()];
        // Client asks the server to update: S=1.
        let r = answer(&ask(FLAG_S | FLAG_E), ServerRole::Forward, Some(&name));
        assert_eq!(r.flags, FLAG_S | FLAG_E);
        assert_eq!((r.rcode1, r.rcode2), (255, 255));
        assert!(r.absolute);
        // Client wants to update itself, server overrides: S=1, O=1.
        let r = answer(&ask(0), ServerRole::Forward, Some(&name));
        assert_eq!(r.flags, FLAG_S | FLAG_O);
        // Client updates itself, allowed: all clear.
        let r = answer(&ask(0), ServerRole::ReverseOnly, None);
        assert_eq!(r.flags, 0);
        // Client wants no updates, honoured: N=1.
        let r = answer(&ask(FLAG_N), ServerRole::Nothing, None);
        assert_eq!(r.flags, FLAG_N);
        // Client asks for updates the server will not make: N=1, O=1.
        let r = answer(&ask(FLAG_S), ServerRole::Nothing, None);
        assert_eq!(r.flags, FLAG_N | FLAG_O);
    }
}
