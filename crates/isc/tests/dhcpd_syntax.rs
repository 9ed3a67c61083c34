//! dhcpd.conf in dhcpd's dialect: the seed's dhcpd.conf parses into the
//! generic tree (blocks without `;`, `#` comments only) and its `key`
//! statement reads like a BIND one.

use std::path::{Path, PathBuf};

use tandem_isc::{
    fs_loader, keys_from_statements, parse_file_dialect, parse_str, parse_str_dialect, Dialect,
    Statement, TokenKind,
};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dhcp/dhcpd.conf")
}

fn words(st: &Statement) -> Vec<&str> {
    st.words.iter().map(|t| t.text.as_str()).collect()
}

#[test]
fn seed_dhcpd_conf_parses_with_positions() {
    let t = parse_file_dialect(&fixture(), Dialect::Dhcpd, &mut fs_loader()).unwrap();
    let heads: Vec<(Vec<&str>, u32)> = t.iter().map(|s| (words(s), s.loc.line)).collect();
    assert_eq!(
        heads,
        vec![
            (vec!["ddns-update-style", "standard"], 5),
            (vec!["option", "domain-name", "home"], 6),
            (
                vec![
                    "option",
                    "domain-name-servers",
                    "192.168.0.254",
                    ",",
                    "192.168.0.253"
                ],
                7
            ),
            (vec!["key", "DHCP_UPDATER"], 9),
            (vec!["zone", "home."], 14),
            (vec!["zone", "0.168.192.in-addr.arpa."], 20),
            (vec!["failover", "peer", "dhcp-failover"], 26),
            (
                vec!["subnet", "192.168.0.0", "netmask", "255.255.255.0"],
                39
            ),
        ]
    );
    let failover = &t[6];
    assert_eq!(failover.children().len(), 10);
    let port = &failover.children()[2];
    assert_eq!(words(port), ["port", "647"]);
    assert_eq!(port.words[1].kind, TokenKind::Number);
    assert_eq!(port.words[1].number(), Some(647));
    let pool = &t[7].children()[1];
    assert!(pool.is("pool"));
    assert_eq!((pool.loc.line, pool.loc.col), (41, 3));
    assert_eq!(
        words(&pool.children()[0]),
        ["range", "192.168.0.15", "192.168.0.245"]
    );
    assert!(t.iter().all(|s| s.tail.is_none()));
}

#[test]
fn dhcpd_key_statement_with_unquoted_secret() {
    let t = parse_file_dialect(&fixture(), Dialect::Dhcpd, &mut fs_loader()).unwrap();
    let keys = keys_from_statements(&t).unwrap();
    assert_eq!(keys.len(), 1);
    let k = &keys[0];
    assert_eq!(k.name_text(), "DHCP_UPDATER");
    // As written, lowercased: dhcpd's long form is not rewritten here.
    assert_eq!(k.algorithm, "hmac-md5.sig-alg.reg.int");
    assert_eq!(k.secret, b"home ddns \xff\xff\xff secret!");
    assert_eq!(
        (k.loc.file.clone(), k.loc.line, k.loc.col),
        (fixture(), 9, 1)
    );
}

#[test]
fn the_dialects_differ_where_they_should() {
    let text =
        "subnet 10.0.0.0 netmask 255.0.0.0 { }\nhost h { fixed-address 10.0.0.2; };\npool { }";
    let t = parse_str_dialect(text, Path::new("dhcpd.conf"), Dialect::Dhcpd).unwrap();
    assert_eq!(t.len(), 3);
    assert!(t[1].is("host") && t[2].is("pool"));
    // BIND reads words after a block as the same statement, and wants the ';'.
    let e = parse_str(text, Path::new("named.conf")).unwrap_err();
    assert_eq!(e.to_string(), "named.conf:3:8: missing ';' after '}'");
    // Unbalanced braces are still errors in dhcpd's dialect.
    let e =
        parse_str_dialect("pool {\n  range a b;\n", Path::new("d"), Dialect::Dhcpd).unwrap_err();
    assert_eq!(e.to_string(), "d:1:6: '{' is never closed");
    let e = parse_str_dialect("a { }\n}", Path::new("d"), Dialect::Dhcpd).unwrap_err();
    assert_eq!(e.to_string(), "d:2:1: unexpected '}'");
}

#[test]
fn record_types_in_option_definitions_stay_words() {
    let text = "option a code 200 = { ip-address, integer 8 };\noption b code 201 = array of { ip-address, ip-address };\nsubnet 10.0.0.0 netmask 255.0.0.0 { option a 10.0.0.1 5; }";
    let t = parse_str_dialect(text, Path::new("dhcpd.conf"), Dialect::Dhcpd).unwrap();
    assert_eq!(t.len(), 3);
    assert_eq!(
        words(&t[0]),
        [
            "option",
            "a",
            "code",
            "200",
            "=",
            "{",
            "ip-address",
            ",",
            "integer",
            "8",
            "}"
        ]
    );
    assert!(t[0].block.is_none());
    assert_eq!(
        t[0].render(),
        "option a code 200 = { ip-address, integer 8 };"
    );
    assert_eq!(words(&t[1])[5..8], ["array", "of", "{"]);
    assert_eq!(t[2].children().len(), 1);
    // Anywhere else a brace opens a block, and a record left open is an error.
    let e = parse_str_dialect(
        "option a code 200 = { ip-address;\n",
        Path::new("d"),
        Dialect::Dhcpd,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "d:1:21: expected a record type: { TYPE, TYPE, ... }"
    );
    // BIND's dialect has no such thing.
    assert!(parse_str(
        "option a code 200 = { ip-address, integer 8 };",
        Path::new("n")
    )
    .is_err());
}
