//! The generic statement parser: shapes, positions, errors and includes.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use tandem_isc::{
    parse_file, parse_str, parse_str_dialect, tokenize, Dialect, Statement, TokenKind,
};

fn parse(text: &str) -> Vec<Statement> {
    parse_str(text, Path::new("named.conf")).unwrap()
}

fn err(text: &str) -> String {
    parse_str(text, Path::new("named.conf"))
        .unwrap_err()
        .to_string()
}

fn words(st: &Statement) -> Vec<&str> {
    st.words.iter().map(|t| t.text.as_str()).collect()
}

#[test]
fn statements_blocks_and_positions() {
    let t = parse(
        "options {\n\tdirectory \"/var/cache/bind\";\n\tlisten-on port 53 { 127.0.0.1; !10/8; };\n};\n\nzone \"home\" IN { type master; };\n",
    );
    assert_eq!(t.len(), 2);
    assert_eq!(words(&t[0]), ["options"]);
    assert_eq!((t[0].loc.line, t[0].loc.col), (1, 1));
    let opts = t[0].children();
    assert_eq!(words(&opts[0]), ["directory", "/var/cache/bind"]);
    assert_eq!(opts[0].words[1].kind, TokenKind::Str);
    assert_eq!((opts[0].loc.line, opts[0].loc.col), (2, 2));
    assert_eq!(words(&opts[1]), ["listen-on", "port", "53"]);
    let addrs = opts[1].children();
    assert_eq!(words(&addrs[0]), ["127.0.0.1"]);
    assert_eq!(words(&addrs[1]), ["!", "10/8"]);
    assert_eq!((addrs[1].loc.line, addrs[1].loc.col), (3, 33));
    assert_eq!(words(&t[1]), ["zone", "home", "IN"]);
    assert!(t[1].is("ZONE"));
    assert_eq!((t[1].loc.line, t[1].loc.col), (6, 1));
    assert_eq!(t[1].render(), r#"zone "home" IN { type master; };"#);
    assert_eq!(opts[1].render(), "listen-on port 53 { 127.0.0.1; !10/8; };");
}

#[test]
fn words_after_a_block_and_nested_lists() {
    let t = parse(
        "controls { inet 127.0.0.1 port 953 allow { 127.0.0.1; } keys { \"rndc-key\"; }; };\nacl a { { 10/8; !10.1/16; }; };",
    );
    let inet = &t[0].children()[0];
    assert_eq!(words(inet), ["inet", "127.0.0.1", "port", "953", "allow"]);
    assert_eq!(words(&inet.children()[0]), ["127.0.0.1"]);
    let tail = inet.tail.as_deref().unwrap();
    assert_eq!(words(tail), ["keys"]);
    assert_eq!(words(&tail.children()[0]), ["rndc-key"]);
    assert_eq!(
        inet.render(),
        r#"inet 127.0.0.1 port 953 allow { 127.0.0.1; } keys { "rndc-key"; };"#
    );
    let nested = &t[1].children()[0];
    assert!(nested.words.is_empty());
    assert_eq!(nested.children().len(), 2);
}

#[test]
fn stray_semicolons_and_comments() {
    let t = parse("; a; ;; # x\n// y\n/* z */ b { };");
    assert_eq!(t.len(), 2);
    assert_eq!(t[1].children().len(), 0);
}

#[test]
fn errors_are_located() {
    assert_eq!(
        err("options {\n  directory \"x\"\n};"),
        "named.conf:2:13: missing ';' after \"x\""
    );
    assert_eq!(
        err("zone x {\n  type master;\n"),
        "named.conf:1:8: '{' is never closed"
    );
    assert_eq!(err("a;\n  };"), "named.conf:2:3: unexpected '}'");
    assert_eq!(
        err("zone x {\n  type master;\n}\n"),
        "named.conf:3:1: missing ';' after '}'"
    );
    assert_eq!(
        err("key k { }\nzone"),
        "named.conf:2:1: missing ';' after zone"
    );
    assert_eq!(err("a \"b"), "named.conf:1:3: unterminated quoted string");
    let deep = "a {".repeat(500);
    assert!(err(&deep).contains("nested more than 64 deep"));
}

struct Files(HashMap<PathBuf, String>);

impl Files {
    fn new(files: &[(&str, &str)]) -> Files {
        Files(
            files
                .iter()
                .map(|(p, t)| (PathBuf::from(p), t.to_string()))
                .collect(),
        )
    }
    fn loader(&self) -> impl FnMut(&Path) -> io::Result<String> + '_ {
        |p: &Path| {
            self.0
                .get(p)
                .cloned()
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))
        }
    }
}

#[test]
fn includes_are_spliced_in_with_their_own_locations() {
    let files = Files::new(&[
        (
            "/etc/bind/named.conf",
            "include \"/etc/bind/named.conf.options\";\ninclude \"named.conf.local\";\nview v { include \"sub/v.conf\"; };",
        ),
        ("/etc/bind/named.conf.options", "options { directory \"/var\"; };"),
        ("/etc/bind/named.conf.local", "\n  zone \"home\" { type master; };"),
        ("/etc/bind/sub/v.conf", "include \"../named.conf.options\";"),
        ("/etc/bind/sub/../named.conf.options", "options { };"),
    ]);
    let t = parse_file(Path::new("/etc/bind/named.conf"), &mut files.loader()).unwrap();
    assert_eq!(t.len(), 3);
    assert!(t[0].is("options"));
    assert_eq!(t[0].loc.file, Path::new("/etc/bind/named.conf.options"));
    assert!(t[1].is("zone"));
    assert_eq!(t[1].loc.file, Path::new("/etc/bind/named.conf.local"));
    assert_eq!((t[1].loc.line, t[1].loc.col), (2, 3));
    assert!(t[2].children()[0].is("options"));
}

#[test]
fn include_errors() {
    let files = Files::new(&[
        ("/a/named.conf", "key k { };\ninclude \"b.conf\";"),
        ("/a/b.conf", "\n\n  include \"./c.conf\";"),
        ("/a/c.conf", "include \"/a/x/../named.conf\";"),
        ("/a/missing.conf", "include \"nope\";"),
        ("/a/bad.conf", "include;"),
    ]);
    let e = parse_file(Path::new("/a/named.conf"), &mut files.loader()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/a/c.conf:1:9: include cycle: /a/named.conf -> /a/b.conf -> /a/c.conf -> /a/named.conf"
    );
    let e = parse_file(Path::new("/a/missing.conf"), &mut files.loader()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/a/missing.conf:1:9: cannot read /a/nope: no such file"
    );
    let e = parse_file(Path::new("/a/none.conf"), &mut files.loader()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/a/none.conf:0:0: cannot read /a/none.conf: no such file"
    );
    let e = parse_file(Path::new("/a/bad.conf"), &mut files.loader()).unwrap_err();
    assert_eq!((e.line, e.col), (1, 1));
}

#[test]
fn include_depth_is_limited() {
    let mut files = Vec::new();
    for i in 0..40 {
        files.push((
            format!("/d/{i}.conf"),
            format!("include \"{}.conf\";", i + 1),
        ));
    }
    files.push(("/d/40.conf".to_string(), "a;".to_string()));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let files = Files::new(&refs);
    let e = parse_file(Path::new("/d/0.conf"), &mut files.loader()).unwrap_err();
    assert!(e.message.contains("nested more than 16 deep"), "{e}");
    assert_eq!(e.file, Path::new("/d/16.conf"));
    // Exactly 16 levels is fine.
    let ok = parse_file(Path::new("/d/24.conf"), &mut files.loader()).unwrap();
    assert!(ok[0].is("a"));
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(s in "\\PC*") {
        let _ = tokenize(&s, Path::new("x"));
        let _ = parse_str(&s, Path::new("x"));
        let _ = parse_str_dialect(&s, Path::new("x"), Dialect::Dhcpd);
    }

    #[test]
    fn config_like_text_never_panics(s in "[a-z \"\\\\{};,!#/*\n0-9.]{0,200}") {
        if let Ok(t) = parse_str(&s, Path::new("x")) {
            for st in &t {
                let _ = st.render();
            }
        }
    }

    #[test]
    fn rendered_statements_parse_back(s in "[a-z \"{};!\n0-9.]{0,120}") {
        if let Ok(t) = parse_str(&s, Path::new("x")) {
            let text: Vec<String> = t.iter().map(Statement::render).collect();
            let again = parse_str(&text.join("\n"), Path::new("x")).unwrap();
            let a: Vec<String> = again.iter().map(Statement::render).collect();
            prop_assert_eq!(a, text);
        }
    }
}

/// Generated trees: rendered, parsed back, the same tree (locations aside).
mod round_trip {
    use super::*;
    use tandem_isc::{Location, Token};

    fn tok(kind: TokenKind, text: String) -> Token {
        Token {
            kind,
            text,
            bytes: None,
            loc: nowhere(),
        }
    }

    fn nowhere() -> Location {
        Location {
            file: PathBuf::from("x"),
            line: 0,
            col: 0,
        }
    }

    fn token() -> impl Strategy<Value = Token> {
        prop_oneof![
            4 => "[a-z_*][a-z0-9._:*+=-]{0,8}".prop_map(|t| tok(TokenKind::Word, t)),
            2 => "[0-9]{1,6}".prop_map(|t| tok(TokenKind::Number, t)),
            3 => "\\PC{0,8}".prop_map(|t| tok(TokenKind::Str, t)),
            1 => Just(tok(TokenKind::Bang, "!".into())),
            1 => Just(tok(TokenKind::Comma, ",".into())),
        ]
    }

    fn stmt(
        words: Vec<Token>,
        block: Option<Vec<Statement>>,
        tail: Option<Statement>,
    ) -> Statement {
        Statement {
            words,
            block,
            tail: tail.map(Box::new),
            loc: nowhere(),
        }
    }

    fn tree() -> impl Strategy<Value = Statement> {
        let leaf = prop::collection::vec(token(), 1..5).prop_map(|w| stmt(w, None, None));
        leaf.prop_recursive(4, 48, 5, |inner| {
            let tail = prop::option::weighted(
                0.2,
                (
                    prop::collection::vec(token(), 1..3),
                    prop::option::of(prop::collection::vec(inner.clone(), 0..3)),
                ),
            );
            (
                prop::collection::vec(token(), 0..4),
                prop::collection::vec(inner, 0..5),
                tail,
            )
                .prop_map(|(words, block, tail)| {
                    let tail = tail.map(|(w, b)| stmt(w, b, None));
                    stmt(words, Some(block), tail)
                })
        })
    }

    /// The tree with every location blanked (and, for dhcpd, no tails).
    fn blank(st: &Statement, keep_tails: bool) -> Statement {
        Statement {
            words: st
                .words
                .iter()
                .map(|t| tok(t.kind, t.text.clone()))
                .collect(),
            block: st
                .block
                .as_ref()
                .map(|b| b.iter().map(|s| blank(s, keep_tails)).collect()),
            tail: st
                .tail
                .as_ref()
                .filter(|_| keep_tails)
                .map(|t| Box::new(blank(t, keep_tails))),
            loc: nowhere(),
        }
    }

    proptest! {
        #[test]
        fn generated_trees_survive_print_and_parse(trees in prop::collection::vec(tree(), 0..4)) {
            let text: Vec<String> = trees.iter().map(Statement::render).collect();
            let text = text.join("\n");
            let back = parse_str(&text, Path::new("x")).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            let back: Vec<Statement> = back.iter().map(|s| blank(s, true)).collect();
            prop_assert_eq!(back, trees);
        }

        #[test]
        fn generated_trees_survive_in_dhcpd_dialect(trees in prop::collection::vec(tree(), 0..4)) {
            let trees: Vec<Statement> = trees.iter().map(|s| blank(s, false)).collect();
            let text: Vec<String> = trees.iter().map(Statement::render).collect();
            let text = text.join("\n");
            let back = parse_str_dialect(&text, Path::new("x"), Dialect::Dhcpd)
                .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            let back: Vec<Statement> = back.iter().map(|s| blank(s, false)).collect();
            prop_assert_eq!(back, trees);
        }
    }
}
