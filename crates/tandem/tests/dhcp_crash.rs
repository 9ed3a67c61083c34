//! Crash test for the lease store: perfdhcp drives full DORA exchanges at
//! tandem (as a relay, so the relay path is exercised too), tandem is
//! killed with SIGKILL in the middle, and after a restart every DHCPACK that
//! reached the wire — captured by tcpdump on the load generator's side — is
//! an active lease for the same client.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use tandem_dhcp_wire::{MessageType, Packet};
use tandem_testkit::dhcp::{wait_until, Lab};
use tandem_testkit::{is_root, peers_present, Proc};

fn tandem_bin() -> &'static str {
    env!("CARGO_BIN_EXE_tandem")
}

/// The DHCPACKs in a pcap file (Ethernet link type): yiaddr → chaddr.
fn acks_in_pcap(bytes: &[u8]) -> BTreeMap<Ipv4Addr, [u8; 6]> {
    let mut acks = BTreeMap::new();
    assert!(bytes.len() >= 24, "pcap without a header");
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let incl = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = &bytes[at + 16..(at + 16 + incl).min(bytes.len())];
        at += 16 + incl;
        // Ethernet II, IPv4, UDP.
        if frame.len() < 14 + 20 + 8 || frame[12..14] != [0x08, 0x00] {
            continue;
        }
        let ihl = usize::from(frame[14] & 0x0f) * 4;
        if frame[14 + 9] != 17 {
            continue;
        }
        let udp = &frame[14 + ihl..];
        if udp.len() < 8 || u16::from_be_bytes([udp[0], udp[1]]) != 67 {
            continue;
        }
        let Ok(p) = Packet::parse(&udp[8..]) else {
            continue;
        };
        if p.message_type() == Some(MessageType::Ack as u8) && p.op == 2 {
            let mut hw = [0u8; 6];
            hw.copy_from_slice(&p.chaddr[..6]);
            acks.insert(p.yiaddr, hw);
        }
    }
    acks
}

fn leases_json(socket: &std::path::Path) -> Vec<serde_json::Value> {
    let out = Command::new(tandem_bin())
        .args(["leases", "--json", "--socket"])
        .arg(socket)
        .output()
        .expect("tandem leases");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("lease JSON")
}

#[test]
fn every_acked_lease_survives_kill_9_under_load() {
    if !is_root() || !peers_present(&["perfdhcp", "tcpdump"]) {
        return;
    }
    let lab = Lab::new("crash");
    let srv = lab.add_host("srv", Some("10.77.0.1/16"));
    let load = lab.add_host("load", Some("10.77.0.2/16"));
    let state = lab.dir().join("state");
    let config = lab.dir().join("tandem.toml");
    std::fs::write(
        &config,
        format!(
            r#"[server]
state-dir = "{}"
[dhcp]
interfaces = ["{}"]
conflict-detection = "none"
default-lease-time = 3600
[[dhcp.subnet]]
subnet = "10.77.0.0/16"
[[dhcp.subnet.pool]]
range = "10.77.1.0 - 10.77.200.255"
"#,
            state.display(),
            srv.iface
        ),
    )
    .unwrap();
    let start = |log: &str| {
        let mut c = srv.command(tandem_bin());
        c.args(["serve", "--config"])
            .arg(&config)
            .env("TANDEM_LOG", log);
        Proc::spawn("tandem", c, "tandem ready:")
    };
    let mut tandem = start("warn");

    let pcap = lab.dir().join("acks.pcap");
    let mut dump = load.command("tcpdump");
    dump.args(["-i", &load.iface, "-U", "-n", "-w"])
        .arg(&pcap)
        .args(["udp", "port", "67"]);
    let dump = Proc::spawn("tcpdump", dump, "listening on");

    // perfdhcp acts as a relay (giaddr = its address) and sends to the
    // server's address; bounded by count, time and an outer timeout.
    let mut perf = load.command("timeout");
    perf.args([
        "30",
        "perfdhcp",
        "-4",
        "-l",
        &load.iface,
        "-r",
        "400",
        "-R",
        "100000",
        "-p",
        "20",
        "10.77.0.1",
    ]);
    let mut perf = Proc::spawn("perfdhcp", perf, "");
    // Let several hundred exchanges complete, then crash the server.
    std::thread::sleep(Duration::from_secs(3));
    tandem.kill9();
    std::thread::sleep(Duration::from_millis(300));
    perf.kill9();
    // SIGINT makes tcpdump flush and close the file.
    dump.signal(libc::SIGINT);
    wait_until(
        Duration::from_secs(10),
        || "tcpdump did not exit".into(),
        || dump.output().contains("packets captured").then_some(()),
    );
    drop(dump);

    let acks = acks_in_pcap(&std::fs::read(&pcap).unwrap());
    assert!(
        acks.len() > 100,
        "only {} ACKs before the crash",
        acks.len()
    );

    let _tandem = start("info");
    let socket = state.join("control.sock");
    let leases = leases_json(&socket);
    let active: BTreeMap<String, String> = leases
        .iter()
        .filter(|l| l["state"] == "active")
        .map(|l| {
            (
                l["address"].as_str().unwrap().to_string(),
                l["hardware_address"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let mut lost = Vec::new();
    for (addr, hw) in &acks {
        let mac = hw
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        if active.get(&addr.to_string()) != Some(&mac) {
            lost.push(format!("{addr} ({mac})"));
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged leases lost after kill -9: {:?}",
        lost.len(),
        acks.len(),
        &lost[..lost.len().min(10)]
    );
    eprintln!(
        "{} ACKs on the wire before kill -9, all {} present after restart ({} active leases in the store)",
        acks.len(),
        acks.len(),
        active.len()
    );
}
