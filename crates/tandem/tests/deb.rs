//! The Debian package as `scripts/build-deb` makes it: its files, its
//! control fields, its maintainer scripts, a unit systemd accepts, and a
//! binary and example configuration that work once unpacked.
//!
//! To stay cheap it packages the binary this test run already built (the
//! dev profile, stripped) instead of building a release (`scripts/build-deb`
//! takes about 4 minutes for that). Needs cargo-deb and dpkg-deb
//! (`scripts/install-test-deps`); skipped without them unless
//! TANDEM_REQUIRE_PEERS is set.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::tandem_bin;
use tandem_testkit::{have, peers_present, run};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn cargo_deb_present() -> bool {
    let ok = Command::new(env!("CARGO"))
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok && std::env::var_os("TANDEM_REQUIRE_PEERS").is_some() {
        panic!("cargo-deb is missing (run scripts/install-test-deps)");
    }
    if !ok {
        eprintln!("skipping: cargo-deb is missing (run scripts/install-test-deps)");
    }
    ok
}

#[test]
fn the_package_holds_the_binary_unit_docs_and_user_setup() {
    if !peers_present(&["dpkg-deb"]) || !cargo_deb_present() {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    // The binary cargo test built lives in <target>/debug; cargo-deb takes
    // it from there with --profile dev --no-build.
    let target = tandem_bin()
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .to_path_buf();
    let mut c = Command::new(env!("CARGO"));
    c.current_dir(workspace())
        .env("CARGO_TARGET_DIR", &target)
        .args([
            "deb",
            "-p",
            "tandem",
            "--locked",
            "--no-build",
            "--profile",
            "dev",
        ])
        .args(["--strip", "--output"])
        .arg(out.path());
    let (ok, stdout, stderr) = run(&mut c);
    assert!(ok, "cargo deb failed:\n{stdout}{stderr}");
    let deb = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("a .deb");

    let (ok, info, err) = run(Command::new("dpkg-deb").arg("-I").arg(&deb));
    assert!(ok, "{err}");
    for want in [
        "Package: tandem",
        "Section: net",
        "Depends: libc6",
        "passwd",
        "postinst",
        "postrm",
    ] {
        assert!(info.contains(want), "no {want:?} in\n{info}");
    }

    let (ok, list, err) = run(Command::new("dpkg-deb").arg("-c").arg(&deb));
    assert!(ok, "{err}");
    for path in [
        "./usr/bin/tandem",
        "./usr/lib/systemd/system/tandem.service",
        "./usr/share/doc/tandem/README.md",
        "./usr/share/doc/tandem/migrating-from-isc.md",
        "./usr/share/doc/tandem/configuration.md",
        "./usr/share/doc/tandem/examples/tandem.toml",
        "./usr/share/doc/tandem/examples/zones/home.zone",
    ] {
        assert!(
            list.lines().any(|l| l.ends_with(path)),
            "{path} missing from\n{list}"
        );
    }
    // Nothing in /etc: import-isc writes /etc/tandem/tandem.toml and
    // refuses to overwrite one.
    assert!(!list.contains(" ./etc/"), "{list}");

    // The maintainer scripts create the user and never start or enable
    // the unit (it would take ports 53 and 67 from BIND and dhcpd).
    let ctrl = tempfile::tempdir().unwrap();
    let (ok, _, err) = run(Command::new("dpkg-deb")
        .arg("-e")
        .arg(&deb)
        .arg(ctrl.path()));
    assert!(ok, "{err}");
    let postinst = std::fs::read_to_string(ctrl.path().join("postinst")).unwrap();
    assert!(
        postinst.contains("useradd --system --user-group"),
        "{postinst}"
    );
    assert!(!postinst.contains("deb-systemd-invoke start"), "{postinst}");
    // cargo-deb's own sysusers snippet would fail where systemd is absent.
    assert!(
        !postinst.contains("systemd-sysusers ${DPKG_ROOT"),
        "{postinst}"
    );
    let (ok, _, err) = run(Command::new("sh")
        .arg("-n")
        .arg(ctrl.path().join("postinst")));
    assert!(ok, "postinst: {err}");

    // Unpacked: the binary runs and accepts the example configuration.
    let root = tempfile::tempdir().unwrap();
    let (ok, _, err) = run(Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(root.path()));
    assert!(ok, "{err}");
    let bin = root.path().join("usr/bin/tandem");
    let (ok, version, err) = run(Command::new(&bin).arg("--version"));
    assert!(ok && version.starts_with("tandem "), "{version}{err}");
    let example = root
        .path()
        .join("usr/share/doc/tandem/examples/tandem.toml");
    let (ok, out, err) = run(Command::new(&bin)
        .arg("check")
        .arg("--config")
        .arg(&example));
    assert!(ok, "the example configuration: {out}{err}");

    // systemd accepts the unit (pointed at the unpacked binary).
    if have("systemd-analyze") {
        let unit =
            std::fs::read_to_string(root.path().join("usr/lib/systemd/system/tandem.service"))
                .unwrap()
                .replace("/usr/bin/tandem", bin.to_str().unwrap());
        let units = tempfile::tempdir().unwrap();
        let path = units.path().join("tandem.service");
        std::fs::write(&path, unit).unwrap();
        let (ok, out, err) = run(Command::new("systemd-analyze").arg("verify").arg(&path));
        assert!(
            ok && err.trim().is_empty(),
            "systemd-analyze verify: {out}{err}"
        );
    }
}
