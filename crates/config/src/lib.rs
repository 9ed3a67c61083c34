//! tandem's configuration: one TOML file (documented in
//! `docs/configuration.md`) turned into a validated [`Config`].
//!
//! This crate owns the schema and every check that can be made without
//! opening a socket: unknown keys, names, addresses, access lists, key
//! secrets. Each error carries the place it was found (`file:line:col`).
//! Zone files are not read here; `tandem check` loads them through the zone
//! store so that both use the same code.

mod ddns;
mod dhcp;
mod failover;
mod raw;
pub mod resolver;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tandem_dns::{Acl, AclElement};
use tandem_dns_wire::tsig::{Algorithm, Key};
use tandem_dns_wire::Name;
use toml::Spanned;

pub use raw::RawConfig;

/// A configuration error, located in the file that caused it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{col}: {message}", file.display())]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this came from.
    pub path: PathBuf,
    pub server: Server,
    pub dns: Dns,
    pub keys: Vec<KeySpec>,
    pub zones: Vec<ZoneConfig>,
    /// The DHCP server, when the file has a `[dhcp]` table.
    pub dhcp: Option<tandem_dhcp::DhcpConfig>,
    /// Leases into DNS, when the file has a `[ddns]` table.
    pub ddns: Option<tandem_ddns::DdnsConfig>,
    /// The forwarding resolver, when the file has a `[resolver]` table.
    pub resolver: Option<resolver::ResolverConfig>,
}

/// Process-wide settings.
#[derive(Debug, Clone)]
pub struct Server {
    /// Where journals and other state live.
    pub state_dir: PathBuf,
    /// Unix socket for `tandem reload` and friends.
    pub control_socket: PathBuf,
    /// BIND-syntax key files to read `key` statements from.
    pub key_files: Vec<PathBuf>,
    /// The user to run as once started as root (`[server] user`); `None`
    /// keeps the starting user.
    pub user: Option<String>,
}

/// The DNS listener settings.
#[derive(Debug, Clone)]
pub struct Dns {
    pub listen: Vec<SocketAddr>,
    pub tcp_idle_timeout: Duration,
    pub tcp_max_connections: usize,
    pub max_udp_payload: u16,
    /// UDP worker threads per listener; 0 picks one per CPU.
    pub udp_workers: usize,
}

/// A TSIG key as configured.
#[derive(Clone)]
pub struct KeySpec {
    pub name: Name,
    pub algorithm: Algorithm,
    pub secret: Vec<u8>,
    /// `file:line:col` where the key was defined, for error messages.
    pub defined_at: String,
}

impl KeySpec {
    /// The key as the TSIG code uses it.
    pub fn to_key(&self) -> Key {
        Key {
            name: self.name.clone(),
            algorithm: self.algorithm,
            secret: self.secret.clone(),
        }
    }
}

impl std::fmt::Debug for KeySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySpec")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &"<hidden>")
            .finish()
    }
}

/// Where a zone's data comes from.
#[derive(Debug, Clone)]
pub enum ZoneRole {
    /// From the user's zone file (plus tandem's journal of updates).
    Primary { file: PathBuf },
    /// Transferred from the primaries.
    Secondary(SecondaryConfig),
}

/// A secondary zone's primaries and what it accepts from whom.
#[derive(Debug, Clone)]
pub struct SecondaryConfig {
    /// Tried in order for transfers and forwarded updates.
    pub primaries: Vec<SocketAddr>,
    /// Signs transfer requests (the primary's `allow-transfer` may want it).
    pub transfer_key: Option<Name>,
    /// The local address transfers and forwarded updates leave from.
    pub transfer_source: Option<std::net::IpAddr>,
    pub allow_notify: Acl,
    pub allow_update_forwarding: Acl,
}

/// Whom a zone's changes are announced to by NOTIFY (BIND's `notify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyMode {
    /// `also-notify` and the name servers in the zone's NS records (their
    /// addresses from the zone itself), except the SOA's primary and this
    /// host's own addresses.
    Yes,
    /// Only `also-notify` (the default: nothing leaves for an address the
    /// user did not write down).
    Explicit,
    /// Nobody, not even `also-notify`.
    No,
}

/// One authoritative zone.
#[derive(Debug, Clone)]
pub struct ZoneConfig {
    pub name: Name,
    pub role: ZoneRole,
    pub allow_query: Acl,
    pub allow_transfer: Acl,
    pub allow_update: Acl,
    pub update_policy: Option<tandem_zone::UpdatePolicy>,
    pub also_notify: Vec<SocketAddr>,
    pub notify: NotifyMode,
    /// Signs the NOTIFYs this zone sends.
    pub notify_key: Option<Name>,
    /// The journal is compacted when it grows past this many bytes.
    pub journal_max_size: u64,
}

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            line: 0,
            col: 0,
            message: format!("cannot read: {e}"),
        })?;
        Config::parse(&text, path)
    }

    /// Validates `text` as if read from `path` (relative paths in it are
    /// relative to `path`'s directory).
    ///
    /// A top-level `include = "FILE"` (before any table) reads FILE,
    /// relative to `path`'s directory, as if its text followed this one:
    /// a pair's node file holds the node's identity and includes the
    /// configuration both nodes share (`tandem import-isc` with both
    /// nodes' files writes them so). Errors name the file they are in.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        #[derive(serde::Deserialize)]
        struct IncludeOnly {
            include: Option<Spanned<String>>,
        }
        let plain = Locator {
            path,
            text,
            included: None,
        };
        let include = toml::from_str::<IncludeOnly>(text)
            .ok()
            .and_then(|i| i.include);
        let (combined, included_path, included_text);
        let at = match &include {
            None => plain,
            Some(inc) => {
                let p = plain.resolve(inc.get_ref());
                included_text = std::fs::read_to_string(&p).map_err(|e| {
                    plain.at(inc, format!("include {}: cannot read: {e}", p.display()))
                })?;
                included_path = p;
                combined = format!("{text}\n{included_text}");
                Locator {
                    path,
                    text: &combined,
                    included: Some((text.len() + 1, &included_path, &included_text)),
                }
            }
        };
        let raw: RawConfig = toml::from_str(at.text).map_err(|e| {
            let start = e.span().map_or(0, |s| s.start);
            at.error(start, e.message().trim_end().to_string())
        })?;
        raw::validate(raw, &at)
    }
}

/// Turns byte offsets into `file:line:col` errors.
pub(crate) struct Locator<'a> {
    path: &'a Path,
    text: &'a str,
    /// The included file: where its text starts in `text`, its path, its
    /// text.
    included: Option<(usize, &'a Path, &'a str)>,
}

impl Locator<'_> {
    pub(crate) fn error(&self, offset: usize, message: impl Into<String>) -> ConfigError {
        let offset = offset.min(self.text.len());
        let (file, text, offset) = match self.included {
            Some((start, p, t)) if offset >= start => (p, t, offset - start),
            _ => (self.path, self.text, offset),
        };
        let offset = offset.min(text.len());
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
        ConfigError {
            file: file.to_path_buf(),
            line,
            col,
            message: message.into(),
        }
    }

    pub(crate) fn at<T>(&self, spanned: &Spanned<T>, message: impl Into<String>) -> ConfigError {
        self.error(spanned.span().start, message)
    }

    pub(crate) fn place<T>(&self, spanned: &Spanned<T>) -> String {
        let e = self.error(spanned.span().start, "");
        format!("{}:{}:{}", e.file.display(), e.line, e.col)
    }

    /// A path from the file, made absolute against the file's directory.
    pub(crate) fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.path.parent().unwrap_or(Path::new(".")).join(p)
        }
    }

    pub(crate) fn acl(
        &self,
        items: &Option<Vec<Spanned<String>>>,
        default: Acl,
    ) -> Result<Acl, ConfigError> {
        let Some(items) = items else {
            return Ok(default);
        };
        items
            .iter()
            .map(|s| {
                s.get_ref()
                    .parse::<AclElement>()
                    .map_err(|e| self.at(s, e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Acl)
    }
}
