//! The relationship's durable state: `dhcp/failover-NAME.state`, a few
//! `key value` lines with ISC's state names, replaced atomically
//! (temporary file, fsync, rename, fsync of the directory), the
//! counterpart of ISC's `failover peer "NAME" state { my state ...; peer
//! state ...; }` in its lease file.
//!
//! ```text
//! # tandem failover state; written before the state is acted on
//! my-state normal
//! my-stos 1800000000
//! partner-state normal
//! partner-stos 1800000000
//! mclt 1800
//! ```

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context as _};
use tandem_failover::machine::Persisted;
use tandem_failover::FailoverState;

/// Reads the saved state, or `None` for a relationship never started here.
pub(crate) fn load(file: &Path) -> anyhow::Result<Option<Persisted>> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    parse(&text).map(Some)
}

fn parse(text: &str) -> anyhow::Result<Persisted> {
    let mut p = Persisted {
        my_state: FailoverState::Recover,
        my_stos: 0,
        partner_state: FailoverState::UnknownState,
        partner_stos: 0,
        mclt: 0,
    };
    let mut seen_state = false;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once(char::is_whitespace) else {
            bail!("line {}: expected KEY VALUE", n + 1);
        };
        let value = value.trim();
        let state = || {
            FailoverState::from_isc_name(value)
                .with_context(|| format!("line {}: unknown failover state {value:?}", n + 1))
        };
        let number = || {
            value
                .parse::<u64>()
                .with_context(|| format!("line {}: {value:?} is not a number", n + 1))
        };
        match key {
            "my-state" => {
                p.my_state = state()?;
                seen_state = true;
            }
            "my-stos" => p.my_stos = number()?,
            "partner-state" => p.partner_state = state()?,
            "partner-stos" => p.partner_stos = number()?,
            "mclt" => p.mclt = u32::try_from(number()?).context("mclt out of range")?,
            other => bail!("line {}: unknown key {other:?}", n + 1),
        }
    }
    if !seen_state {
        bail!("no my-state line");
    }
    Ok(p)
}

fn render(p: &Persisted) -> String {
    format!(
        "# tandem failover state; written before the state is acted on\n\
         my-state {}\nmy-stos {}\npartner-state {}\npartner-stos {}\nmclt {}\n",
        p.my_state.isc_name(),
        p.my_stos,
        p.partner_state.isc_name(),
        p.partner_stos,
        p.mclt
    )
}

/// Replaces the file with `p`, durably.
pub(super) fn save(file: &Path, p: &Persisted) -> anyhow::Result<()> {
    let dir = file.parent().context("state file without a directory")?;
    let tmp = file.with_extension("state.tmp");
    {
        let mut f = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(render(p).as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, file)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), file.display()))?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let p = Persisted {
            my_state: FailoverState::CommunicationsInterrupted,
            my_stos: 1_800_000_000,
            partner_state: FailoverState::Normal,
            partner_stos: 1_799_999_000,
            mclt: 1800,
        };
        assert_eq!(parse(&render(&p)).unwrap(), p);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("failover-x.state");
        assert_eq!(load(&file).unwrap(), None);
        save(&file, &p).unwrap();
        assert_eq!(load(&file).unwrap(), Some(p));
        assert!(parse("my-state sleeping\n").is_err());
        assert!(parse("mclt 5\n").is_err());
        assert!(parse("my-state normal\ncolour blue\n").is_err());
    }
}
