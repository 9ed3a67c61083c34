//! The harness for tests that run real programs: tandem itself and the
//! peers people run (named, knotd, dig, nsupdate, dhclient, ...).
//!
//! It owns three promises the test rules make:
//! - readiness is a line a process prints, never a fixed sleep
//!   ([`Proc::spawn`] waits for it, with a deadline);
//! - a process is ended by its PID, never by name, and always: [`Proc`]
//!   kills and reaps its child on drop, even when a test panics;
//! - traffic stays on loopback or inside namespaces the test made
//!   ([`Netns`] deletes its namespace on drop).

pub mod dhcp;
pub mod dns;
pub mod netns;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub use netns::Netns;

/// How long a process may take to print its readiness line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The output a process has printed so far, both streams interleaved.
#[derive(Default)]
struct Output {
    lines: VecDeque<String>,
    closed: usize,
}

/// A child process that is killed (by PID) and reaped when dropped.
pub struct Proc {
    name: String,
    child: Option<Child>,
    output: Arc<(Mutex<Output>, Condvar)>,
}

impl Proc {
    /// Starts `cmd` and waits until a line of its stdout or stderr contains
    /// `ready`. On timeout or early exit, panics with everything it printed.
    pub fn spawn(name: &str, mut cmd: Command, ready: &str) -> Proc {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: cannot start {cmd:?}: {e}"));
        let output = Arc::new((Mutex::new(Output::default()), Condvar::new()));
        let streams: Vec<Box<dyn std::io::Read + Send>> = vec![
            Box::new(child.stdout.take().expect("piped")),
            Box::new(child.stderr.take().expect("piped")),
        ];
        for stream in streams {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if std::env::var_os("TANDEM_TEST_VERBOSE").is_some() {
                        eprintln!("| {line}");
                    }
                    let (lock, cv) = &*output;
                    lock.lock().unwrap().lines.push_back(line);
                    cv.notify_all();
                }
                let (lock, cv) = &*output;
                lock.lock().unwrap().closed += 1;
                cv.notify_all();
            });
        }
        let mut p = Proc {
            name: name.to_string(),
            child: Some(child),
            output,
        };
        if !ready.is_empty() {
            p.wait_for(ready, READY_TIMEOUT);
        }
        p
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// Waits until some line printed so far or later contains `needle`;
    /// returns that line. Panics with the whole output on timeout or exit.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.output;
        let mut out = lock.lock().unwrap();
        loop {
            if let Some(l) = out.lines.iter().find(|l| l.contains(needle)) {
                return l.clone();
            }
            let now = Instant::now();
            if out.closed == 2 || now >= deadline {
                let all: Vec<String> = out.lines.iter().cloned().collect();
                drop(out);
                let status = self
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten());
                panic!(
                    "{}: no line containing {needle:?} ({}; exit: {status:?}); output:\n{}",
                    self.name,
                    if now >= deadline {
                        "timed out"
                    } else {
                        "output closed"
                    },
                    all.join("\n")
                );
            }
            out = cv.wait_timeout(out, deadline - now).unwrap().0;
        }
    }

    /// Everything printed so far.
    pub fn output(&self) -> String {
        let out = self.output.0.lock().unwrap();
        out.lines.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// Sends a signal to this process (by PID).
    pub fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            // SAFETY: kill(2) with our own child's PID has no memory effects.
            unsafe {
                libc::kill(c.id() as libc::pid_t, sig);
            }
        }
    }

    /// SIGKILL, then reap: a crash, as far as the process can tell.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait up to `timeout` for a clean exit; returns its
    /// exit status, or kills it and panics if it hangs.
    pub fn terminate(&mut self, timeout: Duration) -> std::process::ExitStatus {
        self.signal(libc::SIGTERM);
        let mut c = self.child.take().expect("process already ended");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = c.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!("{}: did not exit within {timeout:?} of SIGTERM", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A loopback port free for both UDP and TCP at the time of asking.
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        let port = udp.local_addr().expect("addr").port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port");
}

/// True if `program` is on PATH (or an absolute path that exists).
pub fn have(program: &str) -> bool {
    which(program).is_some()
}

/// The full path of `program` on PATH (sbin included, as root has it).
pub fn which(program: &str) -> Option<PathBuf> {
    let p = PathBuf::from(program);
    if p.is_absolute() {
        return p.exists().then_some(p);
    }
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/bin"])
        .map(|d| PathBuf::from(d).join(program))
        .find(|p| p.is_file());
    found
}

/// Returns false (and says so) if a peer program is missing, so a test can
/// skip on a developer machine. Under `TANDEM_REQUIRE_PEERS=1` (set by
/// `scripts/test`, which installs them) a missing peer fails the test.
pub fn peers_present(programs: &[&str]) -> bool {
    let missing: Vec<&str> = programs.iter().copied().filter(|p| !have(p)).collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var_os("TANDEM_REQUIRE_PEERS").is_some() {
        panic!("missing test peers {missing:?}; run scripts/install-test-deps");
    }
    eprintln!("skipping: missing {missing:?} (run scripts/install-test-deps)");
    false
}

/// True when running as root (network namespaces need it).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs a command to completion and returns (status ok, stdout, stderr).
pub fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
