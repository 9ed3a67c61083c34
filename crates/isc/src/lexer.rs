//! The lexer: ISC configuration text to tokens with positions.
//!
//! This module owns the token rules shared by named.conf, BIND key files and
//! dhcpd.conf: bare words, numbers, quoted strings with backslash escapes,
//! the punctuation `{ } ; , !`, and comments. Lines and columns are 1-based;
//! columns count characters.
//!
//! The two programs differ in comments and string escapes, which
//! [`Dialect`] selects: BIND reads `#`, `//` and `/* */`; dhcpd reads `#`
//! alone, so that an unquoted base64 secret or a path may hold `//` there.
//! BIND's backslash keeps the next character as it is; dhcpd's also knows
//! `\t`, `\r`, `\n`, `\b`, octal `\NNN` and hex `\xHH`, which is how
//! dhcpd.leases writes the bytes of a client identifier.

use std::path::Path;

use crate::{IscError, Location};

/// Which program's syntax to read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// named.conf and BIND key files: comments `#`, `//` and `/* */`; every
    /// statement, block or not, ends with `;`.
    #[default]
    Named,
    /// dhcpd.conf and dhcpd.leases: comments `#` only; a statement that
    /// ends with a block needs no `;` after the `}` (one is accepted);
    /// strings take C-like escapes (see [`Token::bytes`]).
    Dhcpd,
}

/// What kind of token this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A bare word: a run of characters up to white space, punctuation, a
    /// quote or a comment start (in BIND's dialect `#`, `//` and `/*` end a
    /// word; in dhcpd's only `#` does).
    Word,
    /// A bare word made of ASCII digits only (`53`, `3600`); see
    /// [`Token::number`]. Addresses and names that start with digits
    /// (`10.0.0.1`, `0.168.192.in-addr.arpa`) are words.
    Number,
    /// A quoted string; `text` holds its contents with escapes resolved.
    Str,
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// `;`
    Semi,
    /// `,` (dhcpd.conf lists)
    Comma,
    /// `!` (negation in address match lists)
    Bang,
}

/// One token and where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    /// The word, the string's contents, or the punctuation character.
    pub text: String,
    /// For a quoted string in dhcpd's dialect whose escapes (`\351`,
    /// `\xe9`) made bytes that are not UTF-8: those bytes, exactly; `text`
    /// then holds them with U+FFFD in place of the bad sequences. `None`
    /// for every other token, whose bytes are `text`'s. Use
    /// [`Token::octets`] to get the bytes either way.
    pub bytes: Option<Vec<u8>>,
    pub loc: Location,
}

impl Token {
    /// True for a bare word, a number or a quoted string.
    pub fn is_text(&self) -> bool {
        matches!(
            self.kind,
            TokenKind::Word | TokenKind::Number | TokenKind::Str
        )
    }

    /// The value of a [`TokenKind::Number`] token, if it fits in a `u64`.
    pub fn number(&self) -> Option<u64> {
        match self.kind {
            TokenKind::Number => self.text.parse().ok(),
            _ => None,
        }
    }

    /// The token's bytes: [`Token::bytes`] if set, else `text`'s.
    pub fn octets(&self) -> &[u8] {
        match &self.bytes {
            Some(b) => b,
            None => self.text.as_bytes(),
        }
    }

    /// The token as it could be written back: strings quoted and escaped.
    /// (Bytes that are not UTF-8 are written as dhcpd's octal escapes.)
    pub fn render(&self) -> String {
        match self.kind {
            TokenKind::Str if self.bytes.is_some() => {
                let mut s = String::from("\"");
                for &b in self.octets() {
                    match b {
                        b'"' | b'\\' => {
                            s.push('\\');
                            s.push(b as char);
                        }
                        0x20..=0x7e => s.push(b as char),
                        _ => s.push_str(&format!("\\{b:03o}")),
                    }
                }
                s.push('"');
                s
            }
            TokenKind::Str => {
                let mut s = String::with_capacity(self.text.len() + 2);
                s.push('"');
                for c in self.text.chars() {
                    if c == '"' || c == '\\' {
                        s.push('\\');
                    }
                    s.push(c);
                }
                s.push('"');
                s
            }
            _ => self.text.clone(),
        }
    }
}

struct Cursor<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: u32,
    col: u32,
}

impl Cursor<'_> {
    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    /// The character after the next one, without consuming anything.
    fn peek2(&self) -> Option<char> {
        let mut it = self.chars.clone();
        it.next();
        it.next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line = self.line.saturating_add(1);
            self.col = 1;
        } else {
            self.col = self.col.saturating_add(1);
        }
        Some(c)
    }
}

fn is_word_char(c: char) -> bool {
    !(c.is_whitespace() || matches!(c, '{' | '}' | ';' | ',' | '!' | '"'))
}

/// Splits `text` (the contents of `file`) into tokens, in BIND's dialect.
///
/// Errors: an unterminated quoted string or `/* */` comment, reported at
/// its start.
pub fn tokenize(text: &str, file: &Path) -> Result<Vec<Token>, IscError> {
    tokenize_dialect(text, file, Dialect::Named)
}

/// [`tokenize`] in the given dialect.
pub fn tokenize_dialect(text: &str, file: &Path, dialect: Dialect) -> Result<Vec<Token>, IscError> {
    let slashes = dialect == Dialect::Named;
    let mut cur = Cursor {
        chars: text.chars().peekable(),
        line: 1,
        col: 1,
    };
    let mut out = Vec::new();
    let at = |line: u32, col: u32| Location {
        file: file.to_path_buf(),
        line,
        col,
    };
    while let Some(c) = cur.peek() {
        let (line, col) = (cur.line, cur.col);
        if c.is_whitespace() {
            cur.bump();
            continue;
        }
        if c == '#' || (slashes && c == '/' && cur.peek2() == Some('/')) {
            while let Some(c) = cur.peek() {
                if c == '\n' {
                    break;
                }
                cur.bump();
            }
            continue;
        }
        if slashes && c == '/' && cur.peek2() == Some('*') {
            cur.bump();
            cur.bump();
            let mut closed = false;
            while let Some(c) = cur.bump() {
                if c == '*' && cur.peek() == Some('/') {
                    cur.bump();
                    closed = true;
                    break;
                }
            }
            if !closed {
                return Err(at(line, col).error("unterminated /* comment"));
            }
            continue;
        }
        let punct = match c {
            '{' => Some(TokenKind::LBrace),
            '}' => Some(TokenKind::RBrace),
            ';' => Some(TokenKind::Semi),
            ',' => Some(TokenKind::Comma),
            '!' => Some(TokenKind::Bang),
            _ => None,
        };
        if let Some(kind) = punct {
            cur.bump();
            out.push(Token {
                kind,
                text: c.to_string(),
                bytes: None,
                loc: at(line, col),
            });
            continue;
        }
        if c == '"' {
            cur.bump();
            // Built as bytes: dhcpd's escapes can make any byte.
            let mut s: Vec<u8> = Vec::new();
            let mut closed = false;
            while let Some(c) = cur.bump() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match cur.bump() {
                        Some(e) if dialect == Dialect::Dhcpd => dhcpd_escape(e, &mut cur, &mut s),
                        Some(e) => push_char(&mut s, e),
                        None => break,
                    },
                    '\n' => break,
                    c => push_char(&mut s, c),
                }
            }
            if !closed {
                return Err(at(line, col).error("unterminated quoted string"));
            }
            let (text, bytes) = match String::from_utf8(s) {
                Ok(t) => (t, None),
                Err(e) => (
                    String::from_utf8_lossy(e.as_bytes()).into_owned(),
                    Some(e.into_bytes()),
                ),
            };
            out.push(Token {
                kind: TokenKind::Str,
                text,
                bytes,
                loc: at(line, col),
            });
            continue;
        }
        let mut s = String::new();
        while let Some(c) = cur.peek() {
            let comment =
                c == '#' || (slashes && c == '/' && matches!(cur.peek2(), Some('/' | '*')));
            if !is_word_char(c) || comment {
                break;
            }
            s.push(c);
            cur.bump();
        }
        let kind = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            TokenKind::Number
        } else {
            TokenKind::Word
        };
        out.push(Token {
            kind,
            text: s,
            bytes: None,
            loc: at(line, col),
        });
    }
    Ok(out)
}

fn push_char(s: &mut Vec<u8>, c: char) {
    let mut buf = [0u8; 4];
    s.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// The escape `\e...` as dhcpd reads it: `t r n b` are control
/// characters, three octal digits are one byte, `x` and two hex digits are
/// one byte, anything else stands for itself. An octal value past 255
/// (`\400`) is kept as its digits, as dhcpd 4.4 does. Shorter octal or hex
/// forms (`\7`, `\x4`) take the digits there are, as in C; dhcpd itself
/// reads those inconsistently, and never writes them.
fn dhcpd_escape(e: char, cur: &mut Cursor<'_>, s: &mut Vec<u8>) {
    match e {
        't' => s.push(b'\t'),
        'r' => s.push(b'\r'),
        'n' => s.push(b'\n'),
        'b' => s.push(0x08),
        '0'..='7' => {
            let mut digits = vec![e];
            while digits.len() < 3 {
                match cur.peek() {
                    Some(c @ '0'..='7') => {
                        digits.push(c);
                        cur.bump();
                    }
                    _ => break,
                }
            }
            let v = digits
                .iter()
                .fold(0u32, |v, d| v * 8 + (*d as u32 - '0' as u32));
            match u8::try_from(v) {
                Ok(b) => s.push(b),
                Err(_) => digits.iter().for_each(|d| push_char(s, *d)),
            }
        }
        'x' => {
            let mut v = 0u32;
            let mut n = 0;
            while n < 2 {
                match cur.peek().and_then(|c| c.to_digit(16)) {
                    Some(d) => {
                        v = v * 16 + d;
                        cur.bump();
                        n += 1;
                    }
                    None => break,
                }
            }
            if n == 0 {
                s.push(b'x');
            } else {
                s.push(v as u8);
            }
        }
        c => push_char(s, c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<(TokenKind, String, u32, u32)> {
        tokenize(text, Path::new("t.conf"))
            .unwrap()
            .into_iter()
            .map(|t| (t.kind, t.text, t.loc.line, t.loc.col))
            .collect()
    }

    #[test]
    fn words_strings_punctuation_and_positions() {
        use TokenKind::*;
        let got = toks("zone \"home\" {\n  allow-update { !10.0.0.1; key X; };\n};");
        let want = vec![
            (Word, "zone", 1, 1),
            (Str, "home", 1, 6),
            (LBrace, "{", 1, 13),
            (Word, "allow-update", 2, 3),
            (LBrace, "{", 2, 16),
            (Bang, "!", 2, 18),
            (Word, "10.0.0.1", 2, 19),
            (Semi, ";", 2, 27),
            (Word, "key", 2, 29),
            (Word, "X", 2, 33),
            (Semi, ";", 2, 34),
            (RBrace, "}", 2, 36),
            (Semi, ";", 2, 37),
            (RBrace, "}", 3, 1),
            (Semi, ";", 3, 2),
        ];
        let want: Vec<_> = want
            .into_iter()
            .map(|(k, s, l, c)| (k, s.to_string(), l, c))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn comments_are_skipped() {
        let got = toks("a # one\nb // two\n/* three\n four */ c\nd/*x*/e, 10.0.0.0/8");
        let words: Vec<_> = got.iter().map(|t| (t.1.as_str(), t.2, t.3)).collect();
        assert_eq!(
            words,
            vec![
                ("a", 1, 1),
                ("b", 2, 1),
                ("c", 4, 10),
                ("d", 5, 1),
                ("e", 5, 7),
                (",", 5, 8),
                ("10.0.0.0/8", 5, 10)
            ]
        );
    }

    #[test]
    fn numbers() {
        let t = tokenize(
            "port 53; 10.0.0.1 0x1 \"7\" 99999999999999999999",
            Path::new("f"),
        )
        .unwrap();
        let kinds: Vec<_> = t.iter().map(|t| (t.kind, t.number())).collect();
        assert_eq!(
            kinds,
            vec![
                (TokenKind::Word, None),
                (TokenKind::Number, Some(53)),
                (TokenKind::Semi, None),
                (TokenKind::Word, None),
                (TokenKind::Word, None),
                (TokenKind::Str, None),
                (TokenKind::Number, None),
            ]
        );
        assert!(t[1].is_text());
    }

    #[test]
    fn dhcpd_dialect_has_hash_comments_only() {
        let text = "secret ab//cd/*e==; # note\nfilename \"/boot/x\"; a/*b*/";
        let t = tokenize_dialect(text, Path::new("dhcpd.conf"), Dialect::Dhcpd).unwrap();
        let words: Vec<_> = t.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(
            words,
            [
                "secret",
                "ab//cd/*e==",
                ";",
                "filename",
                "/boot/x",
                ";",
                "a/*b*/"
            ]
        );
        let t = tokenize(text, Path::new("named.conf")).unwrap();
        let words: Vec<_> = t.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(words, ["secret", "ab", "filename", "/boot/x", ";", "a"]);
    }

    #[test]
    fn string_escapes() {
        let got = toks(r#""a\"b\\c\;" "é x""#);
        assert_eq!(got[0].1, "a\"b\\c;");
        assert_eq!(got[1].1, "é x");
        assert_eq!(got[1].3, 13);
    }

    #[test]
    fn dhcpd_string_escapes_make_bytes() {
        let text = r#"uid "\001\000$\351\005\273\241"; h "a\"b\\c\td\x41\101\400\q"; p "plain""#;
        let t = tokenize_dialect(text, Path::new("dhcpd.leases"), Dialect::Dhcpd).unwrap();
        assert_eq!(t[1].octets(), b"\x01\x00$\xe9\x05\xbb\xa1");
        assert!(t[1].bytes.is_some());
        assert_eq!(t[1].render(), r#""\001\000$\351\005\273\241""#);
        assert_eq!(t[4].text, "a\"b\\c\tdAA400q");
        assert_eq!(t[4].bytes, None);
        assert_eq!(
            (t[7].text.as_str(), t[7].octets()),
            ("plain", &b"plain"[..])
        );
        // BIND keeps the character after a backslash.
        let t = tokenize(r#""\001\t""#, Path::new("named.conf")).unwrap();
        assert_eq!(t[0].text, "001t");
    }

    #[test]
    fn unterminated_things_are_located() {
        let e = tokenize("a;\n  \"open", Path::new("f")).unwrap_err();
        assert_eq!(e.to_string(), "f:2:3: unterminated quoted string");
        let e = tokenize("a;\n\"x\ny\"", Path::new("f")).unwrap_err();
        assert_eq!((e.line, e.col), (2, 1));
        let e = tokenize("a; /* b", Path::new("f")).unwrap_err();
        assert_eq!(e.to_string(), "f:1:4: unterminated /* comment");
    }
}
