//! Starting tandem for a test: a private directory with a config, the
//! example zone files and state, and a free loopback port.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use tandem_testkit::{free_port, Proc};

pub const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");

pub fn tandem_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tandem"))
}

/// A running tandem and the directory it lives in.
pub struct Tandem {
    pub proc: Proc,
    pub port: u16,
    pub dir: PathBuf,
    pub config: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

/// Runs `tandem import-isc ARGS`; panics with everything it printed unless
/// it succeeds, and returns its stdout (the import's report).
pub fn import_isc<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = Command::new(tandem_bin())
        .arg("import-isc")
        .args(args)
        .output()
        .expect("run tandem import-isc");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "tandem import-isc failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A test directory holding copies of the example zones and keys.
pub fn test_dir() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    for sub in ["zones", "keys"] {
        let from = Path::new(EXAMPLES).join(sub);
        let to = tmp.path().join(sub);
        std::fs::create_dir_all(&to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
    tmp
}

/// The example zones, served on `port`; `extra_dns` goes into `[dns]`,
/// `zone_extra` into each `[[zone]]`.
pub fn example_config(port: u16, extra_dns: &str, zone_extra: &str) -> String {
    format!(
        r#"
[server]
state-dir = "state"

[[key]]
name = "DHCP_UPDATER"
algorithm = "hmac-md5"
secret = "cGFpci1leGFtcGxlLWtleS1kby1ub3QtdXNl"

[dns]
listen = ["127.0.0.1:{port}"]
udp-workers = 2
{extra_dns}

[[zone]]
name = "home"
file = "zones/home.zone"
allow-transfer = ["127.0.0.1"]
allow-update = ["key DHCP_UPDATER"]
{zone_extra}

[[zone]]
name = "0.168.192.in-addr.arpa"
file = "zones/db.0.168.192.in-addr.arpa"
allow-update = ["key DHCP_UPDATER"]
{zone_extra}
"#
    )
}

impl Tandem {
    /// Starts tandem on a fresh directory with the example zones.
    pub fn start_example() -> Tandem {
        Self::start_example_with("", "")
    }

    pub fn start_example_with(extra_dns: &str, zone_extra: &str) -> Tandem {
        Self::start_prepared(extra_dns, zone_extra, |_| {})
    }

    /// Like [`start_example_with`], letting `prepare` change the test
    /// directory (zone files, keys) before the server starts.
    pub fn start_prepared(
        extra_dns: &str,
        zone_extra: &str,
        prepare: impl FnOnce(&Path),
    ) -> Tandem {
        let tmp = test_dir();
        let port = free_port();
        let config = tmp.path().join("tandem.toml");
        std::fs::write(&config, example_config(port, extra_dns, zone_extra)).unwrap();
        prepare(tmp.path());
        let mut t = Self::start_in(tmp.path(), &config, port);
        t._tmp = Some(tmp);
        t
    }

    pub fn zone_file(&self) -> PathBuf {
        self.dir.join("zones/home.zone")
    }

    /// Appends lines to the home zone file.
    pub fn append_zone(&self, text: &str) {
        let mut s = std::fs::read_to_string(self.zone_file()).unwrap();
        s.push_str(text);
        std::fs::write(self.zone_file(), s).unwrap();
    }

    /// Starts tandem with an existing config that listens on `port`.
    pub fn start_in(dir: &Path, config: &Path, port: u16) -> Tandem {
        let mut cmd = Command::new(tandem_bin());
        cmd.arg("serve").arg("--config").arg(config);
        let proc = Proc::spawn("tandem", cmd, "tandem ready:");
        Tandem {
            proc,
            port,
            dir: dir.to_path_buf(),
            config: config.to_path_buf(),
            _tmp: None,
        }
    }

    /// Restarts the process on the same directory (after a kill).
    pub fn restart(&mut self) {
        self.proc.kill9();
        let mut cmd = Command::new(tandem_bin());
        cmd.arg("serve").arg("--config").arg(&self.config);
        self.proc = Proc::spawn("tandem", cmd, "tandem ready:");
    }

    pub fn dig(&self, args: &[&str]) -> tandem_testkit::dns::DigResult {
        tandem_testkit::dns::dig("127.0.0.1", self.port, args)
    }

    pub fn tandem(&self, args: &[&str]) -> (bool, String, String) {
        let mut c = Command::new(tandem_bin());
        c.args(args);
        tandem_testkit::run(&mut c)
    }
}

/// The example key as nsupdate's `-y` takes it.
pub const MD5: &str = "hmac-md5:DHCP_UPDATER:cGFpci1leGFtcGxlLWtleS1kby1ub3QtdXNl";

/// Runs one nsupdate process with `args` (`-y KEY`, `-k FILE`, `-t N`)
/// against 127.0.0.1:`port`, feeding it `script` after the `server` line;
/// returns (exit status ok, everything it printed). The script's trailing
/// blank lines are cut: nsupdate sends an empty update for one.
pub fn nsupdate_script(port: u16, args: &[&str], script: &str) -> (bool, String) {
    use std::process::Stdio;
    let mut child = Command::new("nsupdate")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nsupdate");
    let full = format!("server 127.0.0.1 {port}\n{}\n", script.trim_end());
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), full.as_bytes()).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Polls `check` every 50 ms until it holds or `timeout` passes; returns
/// whether it held.
pub fn eventually(timeout: std::time::Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
