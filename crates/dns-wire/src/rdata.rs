//! Record data: which fields of which types hold domain names.
//!
//! Record data is kept uncompressed. On the way in, names inside the data of
//! the types RFC 3597 §4 lets a decoder decompress are expanded; on the way
//! out, only the RFC 1035 types listed there are compressed. Everything else
//! passes through as opaque bytes, which is how RFC 3597 `\#` data and types
//! we have never heard of survive untouched.

use bytes::Bytes;
use domain::base::iana::Rtype;

use crate::message::{read_name, MessageWriter, WireError};
use crate::name::Name;

/// One field of a record-data layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Name,
    Fixed(usize),
    CharString,
}

/// The fields of `rtype` up to and including its last domain name, or `None`
/// for types whose data holds no name we need to look at.
fn layout(rtype: Rtype) -> Option<&'static [Field]> {
    use Field::*;
    Some(match rtype.to_int() {
        // NS MD MF CNAME MB MG MR PTR DNAME
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 39 => &[Name],
        // SOA: mname, rname (the five counters follow)
        6 => &[Name, Name, Fixed(20)],
        // MINFO, RP
        14 | 17 => &[Name, Name],
        // MX, AFSDB, RT, KX
        15 | 18 | 21 | 36 => &[Fixed(2), Name],
        // PX
        26 => &[Fixed(2), Name, Name],
        // SRV
        33 => &[Fixed(6), Name],
        // NAPTR
        35 => &[Fixed(4), CharString, CharString, CharString, Name],
        _ => return None,
    })
}

/// Types whose names may be compressed when written (RFC 3597 §4).
pub fn is_compressible(rtype: Rtype) -> bool {
    matches!(rtype.to_int(), 2..=9 | 12 | 14 | 15)
}

/// Reads `len` bytes of record data at `start` in `msg`, expanding any
/// compressed names, and returns the uncompressed data.
pub fn read_rdata(rtype: Rtype, msg: &[u8], start: usize, len: usize) -> Result<Bytes, WireError> {
    let end = start.checked_add(len).ok_or(WireError::Truncated)?;
    if end > msg.len() {
        return Err(WireError::Truncated);
    }
    let Some(fields) = layout(rtype) else {
        return Ok(Bytes::copy_from_slice(&msg[start..end]));
    };
    let mut out = Vec::with_capacity(len + 16);
    let mut pos = start;
    for field in fields {
        match *field {
            Field::Name => {
                let (name, next) = read_name(msg, pos)?;
                if next > end {
                    return Err(WireError::BadRdata(rtype));
                }
                out.extend_from_slice(name.as_wire());
                pos = next;
            }
            Field::Fixed(n) => {
                if pos + n > end {
                    return Err(WireError::BadRdata(rtype));
                }
                out.extend_from_slice(&msg[pos..pos + n]);
                pos += n;
            }
            Field::CharString => {
                let n = *msg.get(pos).ok_or(WireError::BadRdata(rtype))? as usize;
                if pos + 1 + n > end {
                    return Err(WireError::BadRdata(rtype));
                }
                out.extend_from_slice(&msg[pos..pos + 1 + n]);
                pos += 1 + n;
            }
        }
    }
    out.extend_from_slice(&msg[pos..end]);
    Ok(out.into())
}

/// Checks that uncompressed record data is well formed for its type (every
/// name field parses and lies inside the data).
pub fn validate(rtype: Rtype, rdata: &[u8]) -> Result<(), WireError> {
    read_rdata(rtype, rdata, 0, rdata.len()).map(|_| ())
}

/// The data with every embedded name lower-cased (RFC 4034 §6.2), for
/// comparisons and sorting. Other bytes are untouched.
pub fn canonical(rtype: Rtype, rdata: &[u8]) -> Vec<u8> {
    let mut out = rdata.to_vec();
    let Some(fields) = layout(rtype) else {
        return out;
    };
    let mut pos = 0;
    for field in fields {
        match *field {
            Field::Name => match read_name(rdata, pos) {
                Ok((_, next)) => {
                    out[pos..next].make_ascii_lowercase();
                    pos = next;
                }
                Err(_) => break,
            },
            Field::Fixed(n) => pos += n,
            Field::CharString => pos += 1 + rdata.get(pos).map_or(0, |&n| n as usize),
        }
    }
    out
}

/// Writes uncompressed record data, compressing names where allowed.
pub(crate) fn write_rdata(w: &mut MessageWriter, rtype: Rtype, rdata: &[u8]) {
    let Some(fields) = layout(rtype).filter(|_| is_compressible(rtype)) else {
        w.put_bytes(rdata);
        return;
    };
    let mut pos = 0;
    for field in fields {
        match *field {
            Field::Name => {
                // Stored data was validated on the way in; a name that fails
                // to parse here is written raw rather than panicking.
                match read_name(rdata, pos) {
                    Ok((name, next)) => {
                        w.put_name(&name, true);
                        pos = next;
                    }
                    Err(_) => break,
                }
            }
            Field::Fixed(n) => {
                let end = (pos + n).min(rdata.len());
                w.put_bytes(&rdata[pos..end]);
                pos = end;
            }
            Field::CharString => {
                let n = rdata.get(pos).map_or(0, |&n| n as usize);
                let end = (pos + 1 + n).min(rdata.len());
                w.put_bytes(&rdata[pos..end]);
                pos = end;
            }
        }
    }
    w.put_bytes(&rdata[pos.min(rdata.len())..]);
}

/// The names in `rdata` that deserve address records in the additional
/// section (RFC 1035 §3.3, RFC 2782, RFC 9460 §4.1): NS and MX targets,
/// SRV targets, SVCB and HTTPS targets.
pub fn additional_target(rtype: Rtype, rdata: &[u8]) -> Option<Name> {
    let offset = match rtype {
        Rtype::NS => 0,
        Rtype::MX | Rtype::SVCB | Rtype::HTTPS => 2,
        Rtype::SRV => 6,
        _ => return None,
    };
    read_name(rdata, offset)
        .ok()
        .map(|(n, _)| n)
        .filter(|n| !n.is_root())
}

/// The flags (lower-cased) and replacement name of a NAPTR record
/// (RFC 3403 §4.1), for additional-section processing.
pub fn naptr_flags_and_replacement(rdata: &[u8]) -> Option<(Vec<u8>, Name)> {
    let mut pos = 4;
    let flags_len = *rdata.get(pos)? as usize;
    let flags = rdata
        .get(pos + 1..pos + 1 + flags_len)?
        .to_ascii_lowercase();
    pos += 1 + flags_len;
    for _ in 0..2 {
        pos += 1 + *rdata.get(pos)? as usize;
    }
    let (name, _) = read_name(rdata, pos).ok()?;
    Some((flags, name))
}

/// The single target name of a CNAME or DNAME record.
pub fn single_name(rdata: &[u8]) -> Option<Name> {
    read_name(rdata, 0).ok().map(|(n, _)| n)
}

/// The fields of a SOA record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Soa {
    pub mname: Name,
    pub rname: Name,
    pub serial: u32,
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
    pub minimum: u32,
}

impl Soa {
    pub fn parse(rdata: &[u8]) -> Result<Soa, WireError> {
        let (mname, p) = read_name(rdata, 0)?;
        let (rname, p) = read_name(rdata, p)?;
        let rest = rdata
            .get(p..p + 20)
            .ok_or(WireError::BadRdata(Rtype::SOA))?;
        let u = |i: usize| u32::from_be_bytes([rest[i], rest[i + 1], rest[i + 2], rest[i + 3]]);
        Ok(Soa {
            mname,
            rname,
            serial: u(0),
            refresh: u(4),
            retry: u(8),
            expire: u(12),
            minimum: u(16),
        })
    }

    pub fn to_rdata(&self) -> Bytes {
        let mut out = Vec::with_capacity(self.mname.wire_len() + self.rname.wire_len() + 20);
        out.extend_from_slice(self.mname.as_wire());
        out.extend_from_slice(self.rname.as_wire());
        for v in [
            self.serial,
            self.refresh,
            self.retry,
            self.expire,
            self.minimum,
        ] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out.into()
    }
}

/// Record data in presentation format, as a zone file or dig shows it.
pub fn to_text(rtype: Rtype, rdata: &[u8]) -> String {
    use domain::base::rdata::ParseRecordData;
    use domain::rdata::ZoneRecordData;
    let mut parser = domain::dep::octseq::Parser::from_ref(rdata);
    match ZoneRecordData::<&[u8], domain::base::ParsedName<&[u8]>>::parse_rdata(rtype, &mut parser)
    {
        Ok(Some(data)) if parser.remaining() == 0 => data.to_string(),
        _ => generic_text(rdata),
    }
}

/// RFC 3597 generic presentation: `\# LEN HEX`.
pub fn generic_text(rdata: &[u8]) -> String {
    let mut s = format!("\\# {}", rdata.len());
    if !rdata.is_empty() {
        for b in rdata {
            s.push_str(&format!(" {b:02X}"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soa_round_trip() {
        let soa = Soa {
            mname: "ns1.home.".parse().unwrap(),
            rname: "hostmaster.home.".parse().unwrap(),
            serial: 2024010101,
            refresh: 3600,
            retry: 600,
            expire: 86400,
            minimum: 300,
        };
        assert_eq!(Soa::parse(&soa.to_rdata()).unwrap(), soa);
    }

    #[test]
    fn text_of_known_and_unknown_types() {
        let mx: Vec<u8> = [
            &[0u8, 10][..],
            "mail.home.".parse::<Name>().unwrap().as_wire(),
        ]
        .concat();
        assert_eq!(to_text(Rtype::MX, &mx), "10 mail.home.");
        assert_eq!(to_text(Rtype::from_int(65280), &[1, 2]), "\\# 2 01 02");
    }

    #[test]
    fn truncated_rdata_is_an_error_not_a_panic() {
        assert!(validate(Rtype::MX, &[0]).is_err());
        assert!(validate(Rtype::SOA, &[0, 0, 1]).is_err());
        assert!(validate(Rtype::NAPTR, &[0, 0, 0, 0, 9]).is_err());
    }
}
