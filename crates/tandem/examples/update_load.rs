//! A load generator for signed RFC 2136 updates, for `bench/`: many
//! concurrent clients, each sending one update over UDP and waiting for its
//! answer, so the server's group commit gets a chance to batch.
//!
//! cargo run --release -p tandem --example update_load -- \
//!     127.0.0.1:5353 bench.test. bench-key hmac-sha256 SECRET 20000 64 acked.txt
//!
//! Prints the rate; writes the names that were answered NOERROR to the
//! last argument, one per line, for the loss check.

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tandem_dns_wire::tsig::{self, Algorithm, Key};
use tandem_dns_wire::{Class, Header, Message, MessageWriter, Name, Opcode, Question, Rcode};
use tandem_dns_wire::{Record, Rtype, Section};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 9 {
        eprintln!(
            "usage: update_load SERVER ZONE KEYNAME ALGORITHM SECRET COUNT CLIENTS ACKED_FILE"
        );
        std::process::exit(2);
    }
    let server: SocketAddr = a[1].parse().expect("server address");
    let zone: Name = a[2].parse().expect("zone name");
    let alg: Algorithm = a[4].parse().expect("algorithm");
    let key = Key::from_base64(a[3].parse().expect("key name"), alg, &a[5]).expect("secret");
    let count: usize = a[6].parse().expect("count");
    let clients: usize = a[7].parse().expect("clients");
    let next = Arc::new(AtomicUsize::new(0));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let failed = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (zone, key, next, acked, failed) = (
                zone.clone(),
                key.clone(),
                next.clone(),
                acked.clone(),
                failed.clone(),
            );
            std::thread::spawn(move || {
                let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
                sock.connect(server).expect("connect");
                sock.set_read_timeout(Some(Duration::from_secs(5)))
                    .expect("timeout");
                let mut buf = vec![0u8; 4096];
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    let owner = zone.prepend(format!("u{i}").as_bytes()).expect("name");
                    let mut msg = update(&zone, &owner, i);
                    let now = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap()
                        .as_secs();
                    let ctx = tsig::sign_request(&mut msg, &key, now, 300).expect("sign");
                    let ok = sock.send(&msg).is_ok()
                        && match sock.recv(&mut buf) {
                            Ok(n) => {
                                ctx.verify_response(&buf[..n], now).is_ok()
                                    && Message::parse(&buf[..n])
                                        .is_ok_and(|m| m.header.rcode == Rcode::NOERROR)
                            }
                            Err(_) => false,
                        };
                    if ok {
                        acked.lock().unwrap().push(owner.to_string());
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let acked = acked.lock().unwrap();
    let mut f = std::fs::File::create(&a[8]).expect("acked file");
    for n in acked.iter() {
        writeln!(f, "{n}").unwrap();
    }
    println!(
        "acked {} failed {} seconds {:.3} rate {:.0}",
        acked.len(),
        failed.load(Ordering::Relaxed),
        secs,
        acked.len() as f64 / secs
    );
}

fn update(zone: &Name, owner: &Name, i: usize) -> Vec<u8> {
    let header = Header {
        id: (i % 65536) as u16,
        opcode: Opcode::UPDATE,
        ..Header::default()
    };
    let mut w = MessageWriter::new(header, 512);
    w.push_question(&Question {
        name: zone.clone(),
        qtype: Rtype::SOA,
        qclass: Class::IN,
    });
    let rdata = [10, 200, (i / 256 % 256) as u8, (i % 256) as u8];
    let r = Record::new(owner.clone(), Rtype::A, Class::IN, 300, rdata.to_vec());
    w.push(Section::Authority, &r).expect("fits");
    w.finish()
}
