//! Network namespaces made by a test and removed when it ends.

use std::process::Command;

/// A named network namespace, deleted (with its veths) on drop.
pub struct Netns {
    pub name: String,
}

/// Names of the namespaces that exist now.
fn existing() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output();
    let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    text.unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Deletes `name` and ends (by PID) whatever still runs inside it.
fn remove(name: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", name]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            if let Ok(pid) = pid.parse::<libc::pid_t>() {
                // SAFETY: kill(2) has no memory effects.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
    let _ = Command::new("ip").args(["netns", "del", name]).status();
}

/// Once per test process: removes the namespaces of earlier test processes
/// that were killed before their `Drop` could run (`tt-...-<pid>` whose
/// process is gone). Namespaces of live test processes are left alone.
fn sweep_stale() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for name in existing() {
            let Some(pid) = name.strip_prefix("tt-").and_then(|r| r.rsplit('-').next()) else {
                continue;
            };
            let gone = pid.parse::<u32>().is_ok()
                && !std::path::Path::new(&format!("/proc/{pid}")).exists();
            if gone {
                remove(&name);
            }
        }
    });
}

impl Netns {
    /// Creates `tt-<tag>-<pid>` with its loopback up.
    pub fn new(tag: &str) -> Netns {
        sweep_stale();
        let name = format!("tt-{tag}-{}", std::process::id());
        if existing().contains(&name) {
            remove(&name);
        }
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "cannot create network namespace {name} (are we root?)");
        let ns = Netns { name };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// A command that runs inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs a command inside the namespace and panics if it fails.
    pub fn exec(&self, argv: &[&str]) {
        let mut c = self.command(argv[0]);
        c.args(&argv[1..]);
        let (ok, out, err) = crate::run(&mut c);
        assert!(ok, "in {}: {argv:?} failed: {out}{err}", self.name);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}
