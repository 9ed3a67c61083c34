//! Network namespaces made by a test and removed when it ends.

use std::process::Command;

/// A named network namespace, deleted (with its veths) on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Creates `tandem-test-<tag>-<pid>` with its loopback up.
    pub fn new(tag: &str) -> Netns {
        let name = format!("tt-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
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
