//! ISC configuration syntax (named.conf, dhcpd.conf, key files) and import
//! into tandem.
//!
//! The crate is layered; each module owns one step:
//!
//! - [`lexer`]: text to [`Token`]s with positions (words, numbers, quoted
//!   strings, punctuation, comments), in BIND's or dhcpd's [`Dialect`].
//! - [`parser`]: tokens to a generic tree of [`Statement`]s (words, an
//!   optional `{ }` block, `;`), and `include "file";` resolution through a
//!   caller-supplied loader.
//! - [`keys`]: TSIG `key` statements ([`KeyDef`]), as written by tsig-keygen
//!   and ddns-confgen and as found inside named.conf and dhcpd.conf.
//! - [`named`]: named.conf to tandem's TOML configuration ([`Import`]),
//!   listing everything it could not translate.
//! - [`dhcp_options`]: DHCPv4 option names, codes and value types, ISC's
//!   and tandem's.
//! - [`dhcpd`]: dhcpd.conf to tandem's `[dhcp]` configuration
//!   ([`DhcpImport`]), listing what it could not translate.
//! - [`leases`]: dhcpd.leases to tandem's leases ([`tandem_dhcp::Lease`]).
//! - [`output`]: the layout of the written tandem.toml, and [`combine`] for
//!   one file from both imports.
//! - [`toml_text`]: the small TOML writer the imports use (string escaping).
//!
//! Nothing here panics on bad input: every failure is an [`IscError`] that
//! names the file, line and column.

use std::fmt;
use std::path::PathBuf;

pub mod dhcp_options;
pub mod dhcpd;
pub mod keys;
pub mod leases;
pub mod lexer;
pub mod named;
pub mod output;
pub mod parser;
pub mod toml_text;

pub use dhcpd::{import_dhcpd_conf, import_dhcpd_statements, DhcpImport, DhcpdImportOptions};
pub use keys::{key_from_statement, keys_from_statements, parse_keys, KeyDef};
pub use leases::{leases_json, parse_dhcpd_leases, unix_time, NEVER};
pub use lexer::{tokenize, tokenize_dialect, Dialect, Token, TokenKind};
pub use named::{import_named_conf, import_statements, Import, Untranslated};
pub use output::{combine, combine_pair, NodeImport, Pair, SHARED_FILE};
pub use parser::{
    fs_loader, parse_file, parse_file_dialect, parse_str, parse_str_dialect, Statement,
    MAX_INCLUDE_DEPTH,
};

/// A place in a configuration file. Lines and columns are 1-based (columns
/// count characters); line 0 means the file as a whole (it could not be read).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    pub file: PathBuf,
    pub line: u32,
    pub col: u32,
}

impl Location {
    /// An error at this place.
    pub fn error(&self, message: impl Into<String>) -> IscError {
        IscError {
            file: self.file.clone(),
            line: self.line,
            col: self.col,
            message: message.into(),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

/// A located error, displayed as `file:line:col: message`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{col}: {message}", file.display())]
pub struct IscError {
    pub file: PathBuf,
    pub line: u32,
    pub col: u32,
    pub message: String,
}
