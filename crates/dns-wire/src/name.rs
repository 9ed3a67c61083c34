//! Absolute domain names in uncompressed wire format.
//!
//! A [`Name`] keeps the case it was given (RFC 4343: servers preserve case)
//! but compares, hashes and orders case-insensitively. Ordering is the
//! canonical DNS order of RFC 4034 §6.1 (by labels, right to left), so a
//! `BTreeMap<Name, _>` holds a zone in the order zone transfers and
//! NSEC chains expect.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use bytes::Bytes;

/// Longest legal name in wire format, including the root label.
pub const MAX_NAME_LEN: usize = 255;
/// Longest legal label.
pub const MAX_LABEL_LEN: usize = 63;

/// Why a name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("name is longer than 255 octets")]
    TooLong,
    #[error("label is longer than 63 octets")]
    LabelTooLong,
    #[error("empty label inside a name")]
    EmptyLabel,
    #[error("name is not terminated by the root label")]
    NotAbsolute,
    #[error("bad name syntax: {0}")]
    Syntax(String),
}

/// An absolute domain name, stored as uncompressed wire-format labels.
#[derive(Clone)]
pub struct Name(Bytes);

impl Name {
    /// The root name, `.`.
    pub fn root() -> Self {
        Name(Bytes::from_static(b"\0"))
    }

    /// Builds a name from uncompressed wire bytes, checking every label.
    pub fn from_wire(bytes: impl Into<Bytes>) -> Result<Self, NameError> {
        let bytes = bytes.into();
        check_wire(&bytes)?;
        Ok(Name(bytes))
    }

    /// Builds a name from labels (without the root label).
    pub fn from_labels<'a>(labels: impl IntoIterator<Item = &'a [u8]>) -> Result<Self, NameError> {
        let mut out = Vec::with_capacity(32);
        for label in labels {
            if label.is_empty() {
                return Err(NameError::EmptyLabel);
            }
            if label.len() > MAX_LABEL_LEN {
                return Err(NameError::LabelTooLong);
            }
            out.push(label.len() as u8);
            out.extend_from_slice(label);
        }
        out.push(0);
        if out.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong);
        }
        Ok(Name(out.into()))
    }

    /// The wire-format bytes, including the final root label.
    pub fn as_wire(&self) -> &[u8] {
        &self.0
    }

    /// The wire-format bytes as a shared buffer.
    pub fn to_bytes(&self) -> Bytes {
        self.0.clone()
    }

    /// Length in wire format.
    pub fn wire_len(&self) -> usize {
        self.0.len()
    }

    pub fn is_root(&self) -> bool {
        self.0.len() == 1
    }

    /// Number of labels, not counting the root label.
    pub fn label_count(&self) -> usize {
        self.labels().count()
    }

    /// The labels from left to right, without the root label.
    pub fn labels(&self) -> Labels<'_> {
        Labels { wire: &self.0 }
    }

    /// The first (leftmost) label, or `None` for the root.
    pub fn first_label(&self) -> Option<&[u8]> {
        self.labels().next()
    }

    /// True if the leftmost label is `*`.
    pub fn is_wildcard(&self) -> bool {
        self.first_label() == Some(b"*")
    }

    /// The name with its leftmost label removed; `None` for the root.
    pub fn parent(&self) -> Option<Name> {
        if self.is_root() {
            return None;
        }
        let skip = 1 + self.0[0] as usize;
        Some(Name(self.0.slice(skip..)))
    }

    /// Every suffix of this name from itself up to the root, longest first.
    pub fn ancestors(&self) -> impl Iterator<Item = Name> + '_ {
        let mut next = Some(self.clone());
        std::iter::from_fn(move || {
            let current = next.take()?;
            next = current.parent();
            Some(current)
        })
    }

    /// True if `self` equals `other` or lies below it.
    pub fn is_subdomain_of(&self, other: &Name) -> bool {
        let (a, b) = (self.as_wire(), other.as_wire());
        if b.len() > a.len() {
            return false;
        }
        // The suffix must start on a label boundary of `self`.
        let mut pos = 0;
        while pos < a.len() {
            if a.len() - pos == b.len() {
                return a[pos..].eq_ignore_ascii_case(b);
            }
            pos += 1 + a[pos] as usize;
        }
        false
    }

    /// `label.self`.
    pub fn prepend(&self, label: &[u8]) -> Result<Name, NameError> {
        if label.is_empty() {
            return Err(NameError::EmptyLabel);
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(NameError::LabelTooLong);
        }
        let mut out = Vec::with_capacity(1 + label.len() + self.0.len());
        out.push(label.len() as u8);
        out.extend_from_slice(label);
        out.extend_from_slice(&self.0);
        if out.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong);
        }
        Ok(Name(out.into()))
    }

    /// `*.self`, the wildcard at this node.
    pub fn wildcard_child(&self) -> Result<Name, NameError> {
        self.prepend(b"*")
    }

    /// Replaces the `suffix` of this name by `new_suffix` (for DNAME-like
    /// rewriting and wildcard synthesis). `None` if `suffix` does not match.
    pub fn replace_suffix(
        &self,
        suffix: &Name,
        new_suffix: &Name,
    ) -> Option<Result<Name, NameError>> {
        if !self.is_subdomain_of(suffix) {
            return None;
        }
        let keep = self.0.len() - suffix.0.len();
        let mut out = Vec::with_capacity(keep + new_suffix.0.len());
        out.extend_from_slice(&self.0[..keep]);
        out.extend_from_slice(&new_suffix.0);
        if out.len() > MAX_NAME_LEN {
            return Some(Err(NameError::TooLong));
        }
        Some(Ok(Name(out.into())))
    }

    /// The same name in lower case (the form used as a lookup key).
    pub fn to_lowercase(&self) -> Name {
        if !self.0.iter().any(|b| b.is_ascii_uppercase()) {
            return self.clone();
        }
        Name(self.0.to_ascii_lowercase().into())
    }

    /// Parses presentation format relative to `origin` (`@` is the origin;
    /// a name without a final dot is relative).
    pub fn parse_relative(text: &str, origin: &Name) -> Result<Name, NameError> {
        if text == "@" {
            return Ok(origin.clone());
        }
        if text.ends_with('.') && !text.ends_with("\\.") {
            return text.parse();
        }
        let rel: Name = format!("{text}.").parse()?;
        let mut out = rel.0[..rel.0.len() - 1].to_vec();
        out.extend_from_slice(&origin.0);
        if out.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong);
        }
        Ok(Name(out.into()))
    }
}

/// Validates uncompressed wire format.
fn check_wire(bytes: &[u8]) -> Result<(), NameError> {
    if bytes.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong);
    }
    let mut pos = 0;
    loop {
        let Some(&len) = bytes.get(pos) else {
            return Err(NameError::NotAbsolute);
        };
        if len == 0 {
            return if pos + 1 == bytes.len() {
                Ok(())
            } else {
                Err(NameError::Syntax("data after the root label".into()))
            };
        }
        if len as usize > MAX_LABEL_LEN {
            return Err(NameError::LabelTooLong);
        }
        pos += 1 + len as usize;
    }
}

/// Iterator over the labels of a [`Name`].
pub struct Labels<'a> {
    wire: &'a [u8],
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let len = *self.wire.first()? as usize;
        if len == 0 {
            return None;
        }
        let label = &self.wire[1..1 + len];
        self.wire = &self.wire[1 + len..];
        Some(label)
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}
impl Eq for Name {}

impl Hash for Name {
    /// The lower-cased wire bytes, handed to the hasher in one piece (a
    /// call per byte cost SipHash a round per byte; names are hashed on
    /// every resolver lookup and catalog search).
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut lower = [0u8; 255];
        let n = self.0.len().min(lower.len());
        for (d, s) in lower[..n].iter_mut().zip(&self.0[..n]) {
            *d = s.to_ascii_lowercase();
        }
        state.write(&lower[..n]);
    }
}

impl Ord for Name {
    /// RFC 4034 §6.1 canonical order: compare label by label from the
    /// right, each label as lower-cased octets.
    fn cmp(&self, other: &Self) -> Ordering {
        // Zones sort and search by this on every insert and lookup. A
        // search ends on an equal name; and the label positions go on the
        // stack, in a small array for the usual name and a large one (a
        // name has at most 127 labels in its 255 bytes) otherwise.
        if self.0.eq_ignore_ascii_case(&other.0) {
            return Ordering::Equal;
        }
        let (mut a, mut b) = ([0u8; 16], [0u8; 16]);
        if let (Some(na), Some(nb)) = (
            label_starts(&self.0, &mut a),
            label_starts(&other.0, &mut b),
        ) {
            return cmp_labels(&self.0, &a[..na], &other.0, &b[..nb]);
        }
        let (mut a, mut b) = ([0u8; 128], [0u8; 128]);
        let na = label_starts(&self.0, &mut a).unwrap_or(a.len());
        let nb = label_starts(&other.0, &mut b).unwrap_or(b.len());
        cmp_labels(&self.0, &a[..na], &other.0, &b[..nb])
    }
}

/// Canonical order of two names given where their labels start: label by
/// label from the right, each as lower-cased octets, then by label count.
fn cmp_labels(x: &[u8], xs: &[u8], y: &[u8], ys: &[u8]) -> Ordering {
    for (&i, &j) in xs.iter().rev().zip(ys.iter().rev()) {
        let lx = &x[i as usize + 1..][..x[i as usize] as usize];
        let ly = &y[j as usize + 1..][..y[j as usize] as usize];
        if lx.eq_ignore_ascii_case(ly) {
            continue;
        }
        return lx
            .iter()
            .map(u8::to_ascii_lowercase)
            .cmp(ly.iter().map(u8::to_ascii_lowercase));
    }
    xs.len().cmp(&ys.len())
}

/// Where each label of a checked wire name starts (its length octet),
/// left to right; the number of labels, or `None` if `out` is too small.
fn label_starts<const N: usize>(wire: &[u8], out: &mut [u8; N]) -> Option<usize> {
    let mut n = 0;
    let mut p = 0;
    while let Some(&len) = wire.get(p) {
        if len == 0 {
            break;
        }
        *out.get_mut(n)? = p as u8;
        n += 1;
        p += 1 + len as usize;
    }
    Some(n)
}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Name {
    /// Presentation format with a final dot and RFC 1035 escapes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            return f.write_str(".");
        }
        for label in self.labels() {
            for &b in label {
                match b {
                    b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => {
                        write!(f, "\\{}", b as char)?
                    }
                    0x21..=0x7e => write!(f, "{}", b as char)?,
                    _ => write!(f, "\\{b:03}")?,
                }
            }
            f.write_str(".")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

impl FromStr for Name {
    type Err = NameError;
    /// Parses presentation format; a missing final dot is accepted and the
    /// name taken as absolute.
    fn from_str(s: &str) -> Result<Self, NameError> {
        if s == "." {
            return Ok(Name::root());
        }
        let mut out = Vec::with_capacity(s.len() + 2);
        let mut label_start = 0;
        out.push(0);
        let bytes = s.as_bytes();
        let mut i = 0;
        let mut ended_with_dot = false;
        while i < bytes.len() {
            ended_with_dot = false;
            let c = bytes[i];
            match c {
                b'.' => {
                    let len = out.len() - label_start - 1;
                    if len == 0 {
                        return Err(NameError::EmptyLabel);
                    }
                    if len > MAX_LABEL_LEN {
                        return Err(NameError::LabelTooLong);
                    }
                    out[label_start] = len as u8;
                    label_start = out.len();
                    out.push(0);
                    ended_with_dot = true;
                    i += 1;
                }
                b'\\' => {
                    let rest = &bytes[i + 1..];
                    if rest.len() >= 3 && rest[..3].iter().all(u8::is_ascii_digit) {
                        let v = (rest[0] - b'0') as u16 * 100
                            + (rest[1] - b'0') as u16 * 10
                            + (rest[2] - b'0') as u16;
                        if v > 255 {
                            return Err(NameError::Syntax(format!("bad escape in {s:?}")));
                        }
                        out.push(v as u8);
                        i += 4;
                    } else if let Some(&e) = rest.first() {
                        out.push(e);
                        i += 2;
                    } else {
                        return Err(NameError::Syntax(format!("dangling backslash in {s:?}")));
                    }
                }
                _ => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        if !ended_with_dot {
            let len = out.len() - label_start - 1;
            if len == 0 {
                return Err(NameError::EmptyLabel);
            }
            if len > MAX_LABEL_LEN {
                return Err(NameError::LabelTooLong);
            }
            out[label_start] = len as u8;
            out.push(0);
        }
        if out.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong);
        }
        Ok(Name(out.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn n(s: &str) -> Name {
        s.parse().unwrap()
    }

    #[test]
    fn parse_and_display() {
        assert_eq!(n("www.Home.").to_string(), "www.Home.");
        assert_eq!(n("www.home").to_string(), "www.home.");
        assert_eq!(n(".").to_string(), ".");
        assert_eq!(n("a\\.b.home.").label_count(), 2);
        assert_eq!(n("a\\032b.home.").to_string(), "a\\032b.home.");
        assert!("a..b".parse::<Name>().is_err());
        assert!(format!("{}.", "x".repeat(64)).parse::<Name>().is_err());
    }

    #[test]
    fn case_insensitive_equality_preserves_case() {
        assert_eq!(n("WWW.home."), n("www.HOME."));
        assert_eq!(n("WWW.home.").to_string(), "WWW.home.");
        let state = std::hash::RandomState::new();
        let h = |x: &Name| std::hash::BuildHasher::hash_one(&state, x);
        assert_eq!(h(&n("WWW.home.")), h(&n("www.HOME.")));
        assert_ne!(h(&n("www.home.")), h(&n("ww.whome.")));
    }

    #[test]
    fn subdomain_and_parent() {
        assert!(n("a.b.home.").is_subdomain_of(&n("home.")));
        assert!(n("home.").is_subdomain_of(&n("home.")));
        assert!(!n("xhome.").is_subdomain_of(&n("home.")));
        assert!(n("home.").is_subdomain_of(&Name::root()));
        assert_eq!(n("a.b.home.").parent().unwrap(), n("b.home."));
        assert_eq!(n("a.b.").ancestors().count(), 3);
    }

    #[test]
    fn canonical_order() {
        // RFC 4034 §6.1 example order.
        let ordered = [
            "example.",
            "a.example.",
            "yljkjljk.a.example.",
            "Z.a.example.",
            "zABC.a.EXAMPLE.",
            "z.example.",
            "\\001.z.example.",
            "*.z.example.",
            "\\200.z.example.",
        ];
        for w in ordered.windows(2) {
            assert!(n(w[0]) < n(w[1]), "{} < {}", w[0], w[1]);
        }
        // Past the small label table (16 labels): the same order.
        let deep = "q.".repeat(20);
        assert!(n(&format!("a.{deep}")) < n(&format!("B.{deep}")));
        assert!(n(&format!("{deep}a.")) < n(&format!("b.{deep}a.")));
        assert_eq!(
            n(&format!("X.{deep}")).cmp(&n(&format!("x.{deep}"))),
            Ordering::Equal
        );
    }

    proptest::proptest! {
        /// The stack-based comparison orders as the plain definition:
        /// labels from the right, lower-cased, then the label count.
        #[test]
        fn order_is_rfc4034_canonical(
            // Up to 24 labels: both the small and the large label table.
            a in proptest::collection::vec("[a-cA-C\\-*]{0,3}", 0..24),
            b in proptest::collection::vec("[a-cA-C\\-*]{0,3}", 0..24),
        ) {
            let name = |ls: &[String]| -> Option<Name> {
                let ls: Vec<&String> = ls.iter().filter(|l| !l.is_empty()).collect();
                let text: String = ls.iter().map(|l| format!("{l}.")).collect();
                if text.is_empty() { Some(Name::root()) } else { text.parse().ok() }
            };
            let (Some(x), Some(y)) = (name(&a), name(&b)) else { return Ok(()) };
            let lx: Vec<Vec<u8>> = x.labels().map(|l| l.to_ascii_lowercase()).collect();
            let ly: Vec<Vec<u8>> = y.labels().map(|l| l.to_ascii_lowercase()).collect();
            let mut want = Ordering::Equal;
            for (p, q) in lx.iter().rev().zip(ly.iter().rev()) {
                want = p.cmp(q);
                if want != Ordering::Equal { break; }
            }
            if want == Ordering::Equal { want = lx.len().cmp(&ly.len()); }
            proptest::prop_assert_eq!(x.cmp(&y), want);
        }
    }

    #[test]
    fn relative_names() {
        let origin = n("home.");
        assert_eq!(Name::parse_relative("@", &origin).unwrap(), origin);
        assert_eq!(
            Name::parse_relative("www", &origin).unwrap(),
            n("www.home.")
        );
        assert_eq!(
            Name::parse_relative("www.other.", &origin).unwrap(),
            n("www.other.")
        );
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(labels in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..20), 0..6)) {
            let name = Name::from_labels(labels.iter().map(|l| l.as_slice())).unwrap();
            let text = name.to_string();
            let back: Name = text.parse().unwrap();
            prop_assert_eq!(back.as_wire(), name.as_wire());
        }
    }
}
