//! TSIG key definitions.
//!
//! This module owns the meaning of `key` statements:
//!
//! ```text
//! key "ddns-key" {
//!     algorithm hmac-md5;
//!     secret "bWFkZSB1cCBzZWNyZXQ=";
//! };
//! ```
//!
//! as written by `tsig-keygen` / `ddns-confgen` into key files, and as found
//! inside named.conf and dhcpd.conf. For dhcpd.conf, parse with
//! [`crate::parse_str_dialect`] in [`crate::Dialect::Dhcpd`] (its secrets are
//! often unquoted and may hold `//`) and pass the tree to
//! [`keys_from_statements`].

use std::path::Path;

use base64::Engine;
use tandem_dns_wire::Name;

use crate::parser::{parse_str, Statement};
use crate::{IscError, Location};

/// One `key` statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyDef {
    pub name: Name,
    /// The algorithm as written, lowercased (`hmac-sha256`). Not checked
    /// against a list: the consumer decides what it supports.
    pub algorithm: String,
    /// The decoded secret.
    pub secret: Vec<u8>,
    /// Where the `key` statement starts.
    pub loc: Location,
}

impl KeyDef {
    /// The key name as it would be written in a configuration: without the
    /// final dot (`ddns-key`).
    pub fn name_text(&self) -> String {
        let s = self.name.to_string();
        match s.strip_suffix('.') {
            Some(t) if !t.is_empty() => t.to_string(),
            _ => s,
        }
    }

    /// The secret in base64, as key files write it.
    pub fn secret_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.secret)
    }
}

/// Parses a key file (or any text with `key` statements) and returns its
/// top-level keys. Other statements are ignored; `include` is not followed.
pub fn parse_keys(text: &str, file: &Path) -> Result<Vec<KeyDef>, IscError> {
    keys_from_statements(&parse_str(text, file)?)
}

/// The keys among `stmts` (top level only: keys inside `view` blocks are
/// left to the caller).
pub fn keys_from_statements(stmts: &[Statement]) -> Result<Vec<KeyDef>, IscError> {
    stmts
        .iter()
        .filter(|s| s.is("key"))
        .map(key_from_statement)
        .collect()
}

/// Interprets one `key NAME { algorithm A; secret "S"; };` statement.
pub fn key_from_statement(st: &Statement) -> Result<KeyDef, IscError> {
    let name_tok = match &st.words[..] {
        [_, n] if n.is_text() => n,
        _ => {
            return Err(st
                .loc
                .error("expected key NAME { algorithm ...; secret ...; };"))
        }
    };
    let (Some(block), None) = (&st.block, &st.tail) else {
        return Err(st.loc.error(format!(
            "key {} needs a {{ algorithm ...; secret ...; }} block",
            name_tok.render()
        )));
    };
    let name: Name = name_tok.text.parse().map_err(|e| {
        name_tok
            .loc
            .error(format!("bad key name {:?}: {e}", name_tok.text))
    })?;
    let mut algorithm = None;
    let mut secret = None;
    for sub in block {
        let (Some(kw), [_, value], None) = (sub.keyword(), &sub.words[..], &sub.block) else {
            return Err(sub.loc.error(format!(
                "unexpected {} in key {}",
                sub.render(),
                name_tok.render()
            )));
        };
        if !value.is_text() {
            return Err(value.loc.error(format!("unexpected {}", value.render())));
        }
        let slot = match kw.to_ascii_lowercase().as_str() {
            "algorithm" => &mut algorithm,
            "secret" => &mut secret,
            _ => {
                return Err(sub.loc.error(format!(
                    "unknown key option {kw:?} (expected algorithm or secret)"
                )))
            }
        };
        if slot.is_some() {
            return Err(sub.loc.error(format!("{kw} given twice")));
        }
        *slot = Some(value);
    }
    let Some(algorithm) = algorithm else {
        return Err(st
            .loc
            .error(format!("key {} has no algorithm", name_tok.render())));
    };
    let Some(secret_tok) = secret else {
        return Err(st
            .loc
            .error(format!("key {} has no secret", name_tok.render())));
    };
    let compact: String = secret_tok
        .text
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let secret = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| {
            secret_tok.loc.error(format!(
                "key {}: secret is not valid base64: {e}",
                name_tok.render()
            ))
        })?;
    if secret.is_empty() {
        return Err(secret_tok
            .loc
            .error(format!("key {}: secret is empty", name_tok.render())));
    }
    Ok(KeyDef {
        name,
        algorithm: algorithm.text.to_ascii_lowercase(),
        secret,
        loc: st.loc.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TSIG_KEYGEN: &str = "key \"ddns-key\" {\n\talgorithm hmac-sha256;\n\tsecret \"c2VjcmV0IGtleSBieXRlcw==\";\n};\n";

    #[test]
    fn tsig_keygen_output() {
        let k = parse_keys(TSIG_KEYGEN, Path::new("/etc/bind/ddns.key")).unwrap();
        assert_eq!(k.len(), 1);
        assert_eq!(k[0].name, "ddns-key".parse::<Name>().unwrap());
        assert_eq!(k[0].name_text(), "ddns-key");
        assert_eq!(k[0].algorithm, "hmac-sha256");
        assert_eq!(k[0].secret, b"secret key bytes");
        assert_eq!(k[0].secret_base64(), "c2VjcmV0IGtleSBieXRlcw==");
        assert_eq!((k[0].loc.line, k[0].loc.col), (1, 1));
    }

    #[test]
    fn ddns_confgen_output_with_comments_and_case() {
        let text = "# To activate this key, place the following in named.conf, and\n\
                    # in a separate keyfile on the system or systems from which nsupdate\n\
                    # will be run:\n\
                    key DHCP_UPDATER {\n\
                    \tALGORITHM HMAC-MD5;\n\
                    \tsecret \"c2Vj cmV0\";\n\
                    };\n\
                    // Then, in the \"zone\" statement for each zone:\n\
                    options { };\n";
        let k = parse_keys(text, Path::new("k")).unwrap();
        assert_eq!(k.len(), 1);
        assert_eq!(k[0].name_text(), "DHCP_UPDATER");
        assert_eq!(k[0].algorithm, "hmac-md5");
        assert_eq!(k[0].secret, b"secret");
        assert_eq!(k[0].loc.line, 4);
    }

    fn err(text: &str) -> String {
        parse_keys(text, Path::new("k.key"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn errors_are_located() {
        assert_eq!(
            err("key a {\n  algorithm hmac-md5;\n  secret \"not base64!\";\n};"),
            "k.key:3:10: key a: secret is not valid base64: Invalid symbol 33, offset 9."
        );
        assert_eq!(
            err("\n  key \"a\" { secret \"c2Vj\"; };"),
            "k.key:2:3: key \"a\" has no algorithm"
        );
        assert_eq!(
            err("key a { algorithm hmac-md5; };"),
            "k.key:1:1: key a has no secret"
        );
        assert_eq!(
            err("key a { algorithm hmac-md5; secret \"\"; };"),
            "k.key:1:36: key a: secret is empty"
        );
        assert_eq!(
            err("key a { algorithm hmac-md5; algorithm x; };"),
            "k.key:1:29: algorithm given twice"
        );
        assert_eq!(
            err("key a { algo hmac-md5; };"),
            "k.key:1:9: unknown key option \"algo\" (expected algorithm or secret)"
        );
        assert_eq!(
            err("key;"),
            "k.key:1:1: expected key NAME { algorithm ...; secret ...; };"
        );
        assert_eq!(
            err("key a;"),
            "k.key:1:1: key a needs a { algorithm ...; secret ...; } block"
        );
        assert!(err("key \"a..b\" { };").starts_with("k.key:1:5: bad key name"));
    }
}
