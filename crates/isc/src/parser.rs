//! The generic statement parser and `include` resolution.
//!
//! This module owns the grammar every ISC configuration file shares: a file
//! is a list of statements; a statement is words (bare or quoted), then
//! optionally a `{ ... }` block of statements, then `;`. BIND allows more
//! words and blocks after a block (`inet 127.0.0.1 allow { ... } keys { ... };`
//! in `controls`); those are kept in [`Statement::tail`]. Meaning is given
//! to statements by the modules above ([`crate::keys`], [`crate::named`]).
//!
//! In dhcpd's [`Dialect`] the `;` after a block is optional (`subnet ... {
//! ... }` is how dhcpd.conf is written), so a block always ends its
//! statement there and [`Statement::tail`] stays empty. The one place dhcpd
//! uses braces inside a statement, a record type in an option definition
//! (`option x code 200 = { ip-address, integer 8 };`), keeps them among the
//! words, `{` and `}` tokens included.
//!
//! [`parse_file`] also replaces `include "path";` statements, at any depth,
//! by the statements of the named file, read through a caller-supplied
//! loader; relative paths are taken from the including file's directory.
//! (BIND takes them from its working directory, which `options { directory }`
//! changes while parsing; for the usual absolute include paths the two agree.)

use std::io;
use std::path::{Component, Path, PathBuf};

use crate::lexer::{tokenize_dialect, Dialect, Token, TokenKind};
use crate::{IscError, Location};

/// How deep `include` may nest (the top file is depth 0).
pub const MAX_INCLUDE_DEPTH: usize = 16;

/// How deep `{ }` blocks may nest; a guard against stack exhaustion.
const MAX_BLOCK_DEPTH: usize = 64;

/// One statement: `words [{ block }] [tail] ;`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// Words, quoted strings and the `!` / `,` punctuation before the block
    /// (or the `;`). Empty for an anonymous nested list (`{ a; b; };`).
    pub words: Vec<Token>,
    /// The `{ ... }` block, if any.
    pub block: Option<Vec<Statement>>,
    /// What follows the block before the `;`, parsed as a statement of its
    /// own (rare; `controls` uses it).
    pub tail: Option<Box<Statement>>,
    /// Where the statement starts.
    pub loc: Location,
}

impl Statement {
    /// The first word's text (the statement's keyword), if it has one.
    pub fn keyword(&self) -> Option<&str> {
        self.words
            .first()
            .filter(|t| t.is_text())
            .map(|t| t.text.as_str())
    }

    /// True if the keyword is `kw`, compared without regard to ASCII case.
    pub fn is(&self, kw: &str) -> bool {
        self.keyword().is_some_and(|k| k.eq_ignore_ascii_case(kw))
    }

    /// The statements of the block, or an empty slice.
    pub fn children(&self) -> &[Statement] {
        self.block.as_deref().unwrap_or(&[])
    }

    /// The statement on one line, roughly as written (`zone "home" { ... };`
    /// keeps its block).
    pub fn render(&self) -> String {
        let mut s = String::new();
        self.render_into(&mut s);
        s.push(';');
        s
    }

    fn render_into(&self, s: &mut String) {
        for (i, w) in self.words.iter().enumerate() {
            let glue =
                w.kind == TokenKind::Comma || (i > 0 && self.words[i - 1].kind == TokenKind::Bang);
            if i > 0 && !glue {
                s.push(' ');
            }
            s.push_str(&w.render());
        }
        if let Some(block) = &self.block {
            if !self.words.is_empty() {
                s.push(' ');
            }
            s.push('{');
            for st in block {
                s.push(' ');
                s.push_str(&st.render());
            }
            s.push_str(" }");
        }
        if let Some(t) = &self.tail {
            s.push(' ');
            t.render_into(s);
        }
    }
}

struct Parser<'a> {
    toks: &'a [Token],
    pos: usize,
    file: &'a Path,
    dialect: Dialect,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    fn end_loc(&self) -> Location {
        match self.toks.last() {
            Some(t) => t.loc.clone(),
            None => Location {
                file: self.file.to_path_buf(),
                line: 1,
                col: 1,
            },
        }
    }

    /// Statements up to the end of input (`opener` is None) or up to the `}`
    /// matching `opener`; returns them and the closing brace's location.
    fn block(
        &mut self,
        opener: Option<&Location>,
        depth: usize,
    ) -> Result<(Vec<Statement>, Option<Location>), IscError> {
        if depth > MAX_BLOCK_DEPTH {
            let at = opener.cloned().unwrap_or_else(|| self.end_loc());
            return Err(at.error(format!("blocks nested more than {MAX_BLOCK_DEPTH} deep")));
        }
        let mut out = Vec::new();
        loop {
            let Some(t) = self.peek() else {
                return match opener {
                    Some(o) => Err(o.error("'{' is never closed")),
                    None => Ok((out, None)),
                };
            };
            match t.kind {
                TokenKind::RBrace => {
                    let at = t.loc.clone();
                    if opener.is_none() {
                        return Err(at.error("unexpected '}'"));
                    }
                    self.pos += 1;
                    return Ok((out, Some(at)));
                }
                TokenKind::Semi => {
                    // A stray `;` is an empty statement.
                    self.pos += 1;
                }
                _ => out.push(self.statement(depth)?),
            }
        }
    }

    fn statement(&mut self, depth: usize) -> Result<Statement, IscError> {
        let loc = match self.peek() {
            Some(t) => t.loc.clone(),
            None => self.end_loc(),
        };
        let mut words = Vec::new();
        while let Some(t) = self.peek() {
            match t.kind {
                TokenKind::LBrace if self.record_type_follows(&words) => {
                    self.record_type(&mut words)?;
                }
                TokenKind::LBrace | TokenKind::RBrace | TokenKind::Semi => break,
                _ => {
                    words.push(t.clone());
                    self.pos += 1;
                }
            }
        }
        let missing_semi = |words: &[Token], at: &Location| -> IscError {
            match words.last() {
                Some(w) => w.loc.error(format!("missing ';' after {}", w.render())),
                None => at.error("missing ';'"),
            }
        };
        match self.peek().map(|t| (t.kind, t.loc.clone())) {
            Some((TokenKind::Semi, _)) => {
                self.pos += 1;
                Ok(Statement {
                    words,
                    block: None,
                    tail: None,
                    loc,
                })
            }
            Some((TokenKind::LBrace, open)) => {
                self.pos += 1;
                let (block, close) = self.block(Some(&open), depth + 1)?;
                let close = close.unwrap_or(open);
                let tail = match self.peek().map(|t| t.kind) {
                    Some(TokenKind::Semi) => {
                        self.pos += 1;
                        None
                    }
                    _ if self.dialect == Dialect::Dhcpd => None,
                    Some(TokenKind::RBrace | TokenKind::LBrace) | None => {
                        return Err(close.error("missing ';' after '}'"));
                    }
                    Some(_) => Some(Box::new(self.statement(depth)?)),
                };
                Ok(Statement {
                    words,
                    block: Some(block),
                    tail,
                    loc,
                })
            }
            _ => Err(missing_semi(&words, &loc)),
        }
    }
}

impl Parser<'_> {
    /// True where dhcpd's option definition has a record type, `option NAME
    /// code N = { ip-address, integer 8 };` (or `= array of { ... }`): those
    /// braces hold a type, not statements, so they stay among the words.
    fn record_type_follows(&self, words: &[Token]) -> bool {
        let text = |i: usize| words.get(i).map(|t| t.text.as_str());
        self.dialect == Dialect::Dhcpd
            && words
                .first()
                .is_some_and(|t| t.text.eq_ignore_ascii_case("option"))
            && text(2).is_some_and(|t| t.eq_ignore_ascii_case("code"))
            && (text(4) == Some("=") && words.len() == 5
                || text(4) == Some("=")
                    && words.len() == 7
                    && text(5).is_some_and(|t| t.eq_ignore_ascii_case("array"))
                    && text(6).is_some_and(|t| t.eq_ignore_ascii_case("of")))
    }

    /// Moves `{ ... }` (no nesting) into `words`, braces included.
    fn record_type(&mut self, words: &mut Vec<Token>) -> Result<(), IscError> {
        let open = self.toks[self.pos].clone();
        words.push(open.clone());
        self.pos += 1;
        while let Some(t) = self.peek() {
            match t.kind {
                TokenKind::RBrace => {
                    words.push(t.clone());
                    self.pos += 1;
                    return Ok(());
                }
                TokenKind::LBrace | TokenKind::Semi => break,
                _ => {
                    words.push(t.clone());
                    self.pos += 1;
                }
            }
        }
        Err(open
            .loc
            .error("expected a record type: { TYPE, TYPE, ... }"))
    }
}

/// Parses `text`, the contents of `file`, into statements, in BIND's
/// dialect. `include` statements are left in place (see [`parse_file`]).
pub fn parse_str(text: &str, file: &Path) -> Result<Vec<Statement>, IscError> {
    parse_str_dialect(text, file, Dialect::Named)
}

/// [`parse_str`] in the given dialect.
pub fn parse_str_dialect(
    text: &str,
    file: &Path,
    dialect: Dialect,
) -> Result<Vec<Statement>, IscError> {
    let toks = tokenize_dialect(text, file, dialect)?;
    let mut p = Parser {
        toks: &toks,
        pos: 0,
        file,
        dialect,
    };
    Ok(p.block(None, 0)?.0)
}

/// A loader that reads files from the file system.
pub fn fs_loader() -> impl FnMut(&Path) -> io::Result<String> {
    |p: &Path| std::fs::read_to_string(p)
}

/// Reads `path` through `loader`, parses it, and replaces every
/// `include "file";` (at any depth) by the included file's statements.
///
/// Relative include paths are resolved against the including file's
/// directory. Includes may nest [`MAX_INCLUDE_DEPTH`] deep; a file that
/// includes itself, directly or not, is an error at the `include`.
pub fn parse_file(
    path: &Path,
    loader: &mut dyn FnMut(&Path) -> io::Result<String>,
) -> Result<Vec<Statement>, IscError> {
    parse_file_dialect(path, Dialect::Named, loader)
}

/// [`parse_file`] in the given dialect (dhcpd.conf also has
/// `include "file";`).
pub fn parse_file_dialect(
    path: &Path,
    dialect: Dialect,
    loader: &mut dyn FnMut(&Path) -> io::Result<String>,
) -> Result<Vec<Statement>, IscError> {
    let mut stack = Vec::new();
    load(path, None, dialect, loader, &mut stack)
}

fn load(
    path: &Path,
    from: Option<&Location>,
    dialect: Dialect,
    loader: &mut dyn FnMut(&Path) -> io::Result<String>,
    stack: &mut Vec<PathBuf>,
) -> Result<Vec<Statement>, IscError> {
    let text = loader(path).map_err(|e| {
        let msg = format!("cannot read {}: {e}", path.display());
        match from {
            Some(at) => at.error(msg),
            None => Location {
                file: path.to_path_buf(),
                line: 0,
                col: 0,
            }
            .error(msg),
        }
    })?;
    stack.push(normalize(path));
    let mut stmts = parse_str_dialect(&text, path, dialect)?;
    expand(&mut stmts, path, dialect, loader, stack)?;
    stack.pop();
    Ok(stmts)
}

fn expand(
    stmts: &mut Vec<Statement>,
    path: &Path,
    dialect: Dialect,
    loader: &mut dyn FnMut(&Path) -> io::Result<String>,
    stack: &mut Vec<PathBuf>,
) -> Result<(), IscError> {
    let mut out = Vec::with_capacity(stmts.len());
    for mut st in std::mem::take(stmts) {
        if st.is("include") && st.block.is_none() && st.tail.is_none() {
            let target = match &st.words[..] {
                [_, t] if t.is_text() => t,
                _ => {
                    return Err(st
                        .loc
                        .error("include takes one file name: include \"file\";"))
                }
            };
            let rel = Path::new(&target.text);
            let joined = match path.parent() {
                Some(dir) if rel.is_relative() => dir.join(rel),
                _ => rel.to_path_buf(),
            };
            // `.` components go; `..` stay (a symbolic link may precede them).
            let resolved: PathBuf = joined
                .components()
                .filter(|c| *c != Component::CurDir)
                .collect();
            let norm = normalize(&resolved);
            if let Some(i) = stack.iter().position(|p| *p == norm) {
                let chain: Vec<String> = stack[i..]
                    .iter()
                    .chain(std::iter::once(&norm))
                    .map(|p| p.display().to_string())
                    .collect();
                return Err(target
                    .loc
                    .error(format!("include cycle: {}", chain.join(" -> "))));
            }
            if stack.len() > MAX_INCLUDE_DEPTH {
                return Err(target.loc.error(format!(
                    "includes nested more than {MAX_INCLUDE_DEPTH} deep"
                )));
            }
            out.extend(load(&resolved, Some(&target.loc), dialect, loader, stack)?);
            continue;
        }
        let mut cur = Some(&mut st);
        while let Some(s) = cur {
            if let Some(block) = &mut s.block {
                expand(block, path, dialect, loader, stack)?;
            }
            cur = s.tail.as_deref_mut();
        }
        out.push(st);
    }
    *stmts = out;
    Ok(())
}

/// A path with `.` removed and `..` applied lexically, for cycle detection
/// (the loader may not be a file system, so no canonicalisation).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            other => out.push(other.as_os_str()),
        }
    }
    out
}
