//! DNS peers for tests: dig as the client users check with, and BIND's
//! named as the reference server whose answers ours are compared with.

use std::path::Path;
use std::process::Command;

use crate::{free_port, run, which, Proc};

/// One dig answer, reduced to what a user compares: status, flags and
/// the records of each section (TTLs kept, order normalised).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DigResult {
    pub status: String,
    pub flags: Vec<String>,
    pub answer: Vec<String>,
    pub authority: Vec<String>,
    pub additional: Vec<String>,
    /// The whole output, for failure messages.
    pub raw: String,
}

impl DigResult {
    pub fn has_flag(&self, f: &str) -> bool {
        self.flags.iter().any(|x| x == f)
    }

    /// The rdata of every answer record of type `rtype`.
    pub fn answer_data(&self, rtype: &str) -> Vec<String> {
        self.answer
            .iter()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() >= 5 && f[3] == rtype).then(|| f[4..].join(" "))
            })
            .collect()
    }
}

/// Runs `dig @server -p port ARGS` (no recursion, one try) and parses it.
pub fn dig(server: &str, port: u16, args: &[&str]) -> DigResult {
    let mut cmd = Command::new("dig");
    cmd.arg(format!("@{server}"))
        .args(["-p", &port.to_string()])
        .args(["+norec", "+time=3", "+tries=1", "+nocookie"])
        .args(args);
    let (_, out, err) = run(&mut cmd);
    parse_dig(&format!("{out}{err}"))
}

/// Parses dig's default output format.
pub fn parse_dig(text: &str) -> DigResult {
    let mut r = DigResult {
        raw: text.to_string(),
        ..Default::default()
    };
    let mut section = "";
    for line in text.lines() {
        if let Some(i) = line.find("status: ") {
            let rest = &line[i + 8..];
            r.status = rest.split(',').next().unwrap_or("").trim().to_string();
        }
        if let Some(rest) = line.strip_prefix(";; flags: ") {
            let flags = rest.split(';').next().unwrap_or("");
            r.flags = flags.split_whitespace().map(str::to_string).collect();
        }
        if line.starts_with(";; ANSWER SECTION") {
            section = "answer";
            continue;
        }
        if line.starts_with(";; AUTHORITY SECTION") {
            section = "authority";
            continue;
        }
        if line.starts_with(";; ADDITIONAL SECTION") {
            section = "additional";
            continue;
        }
        if line.trim().is_empty() || line.starts_with(';') {
            if line.trim().is_empty() {
                section = "";
            }
            continue;
        }
        let norm = line.split_whitespace().collect::<Vec<_>>().join(" ");
        match section {
            "answer" => r.answer.push(norm),
            "authority" => r.authority.push(norm),
            "additional" => r.additional.push(norm),
            _ => {}
        }
    }
    // RRset order is not significant; compare sorted.
    r.answer.sort();
    r.authority.sort();
    r.additional.sort();
    r
}

/// BIND's named serving zone files on a loopback port, as a reference.
pub struct Named {
    pub proc: Proc,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Named {
    /// Starts named with `zones` (origin, zone file) as primaries, plus
    /// `extra` text inside `options { }`.
    pub fn start(zones: &[(&str, &Path)], extra: &str) -> Named {
        Self::start_with_files(zones, &[], extra)
    }

    /// As [`Named::start`], also copying `files` (e.g. `$INCLUDE`d ones)
    /// into named's working directory, where it resolves relative paths.
    pub fn start_with_files(zones: &[(&str, &Path)], files: &[&Path], extra: &str) -> Named {
        let dir = tempfile::tempdir().expect("tempdir");
        for f in files {
            std::fs::copy(f, dir.path().join(f.file_name().expect("file name")))
                .expect("copy file");
        }
        let port = free_port();
        let mut conf = format!(
            "options {{\n directory \"{d}\";\n listen-on port {port} {{ 127.0.0.1; }};\n listen-on-v6 {{ none; }};\n pid-file none;\n session-keyfile none;\n recursion no;\n dnssec-validation no;\n notify no;\n {extra}\n}};\ncontrols {{ }};\n",
            d = dir.path().display()
        );
        for (origin, file) in zones {
            let copy = dir.path().join(format!("{origin}.zone"));
            std::fs::copy(file, &copy).expect("copy zone file");
            conf.push_str(&format!(
                "zone \"{origin}\" {{ type primary; file \"{}\"; }};\n",
                copy.display()
            ));
        }
        let conf_path = dir.path().join("named.conf");
        std::fs::write(&conf_path, conf).expect("write named.conf");
        let named = which("named").expect("named is installed");
        let mut cmd = Command::new(named);
        cmd.args(["-g", "-n", "1", "-c"]).arg(&conf_path);
        // Listeners are bound before zones load, so this line means ready.
        let proc = Proc::spawn("named", cmd, "all zones loaded");
        Named {
            proc,
            port,
            _dir: dir,
        }
    }
}
