//! The lexer: ISC configuration text to tokens with positions.
//!
//! This module owns the token rules shared by named.conf, BIND key files and
//! dhcpd.conf: bare words, numbers, quoted strings with backslash escapes,
//! the punctuation `{ } ; , !`, and comments. Lines and columns are 1-based;
//! columns count characters.
//!
//! The two programs differ in comments only, which [`Dialect`] selects:
//! BIND reads `#`, `//` and `/* */`; dhcpd reads `#` alone, so that an
//! unquoted base64 secret or a path may hold `//` there.

use std::path::Path;

use crate::{IscError, Location};

/// Which program's syntax to read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// named.conf and BIND key files: comments `#`, `//` and `/* */`; every
    /// statement, block or not, ends with `;`.
    #[default]
    Named,
    /// dhcpd.conf: comments `#` only; a statement that ends with a block
    /// needs no `;` after the `}` (one is accepted).
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

    /// The token as it could be written back: strings quoted and escaped.
    pub fn render(&self) -> String {
        match self.kind {
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
                loc: at(line, col),
            });
            continue;
        }
        if c == '"' {
            cur.bump();
            let mut s = String::new();
            let mut closed = false;
            while let Some(c) = cur.bump() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match cur.bump() {
                        Some(e) => s.push(e),
                        None => break,
                    },
                    '\n' => break,
                    c => s.push(c),
                }
            }
            if !closed {
                return Err(at(line, col).error("unterminated quoted string"));
            }
            out.push(Token {
                kind: TokenKind::Str,
                text: s,
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
            loc: at(line, col),
        });
    }
    Ok(out)
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
    fn unterminated_things_are_located() {
        let e = tokenize("a;\n  \"open", Path::new("f")).unwrap_err();
        assert_eq!(e.to_string(), "f:2:3: unterminated quoted string");
        let e = tokenize("a;\n\"x\ny\"", Path::new("f")).unwrap_err();
        assert_eq!((e.line, e.col), (2, 1));
        let e = tokenize("a; /* b", Path::new("f")).unwrap_err();
        assert_eq!(e.to_string(), "f:1:4: unterminated /* comment");
    }
}
