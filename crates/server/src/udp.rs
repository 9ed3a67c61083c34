//! UDP listeners: plain threads, one socket each (SO_REUSEPORT spreads the
//! load across them), no async runtime on the query path. A query needs
//! no waiting, so a blocking receive–answer–send loop is the cheapest shell.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tandem_dns::{Outcome, Source, Transport};

use crate::Shared;

/// How often a blocked receive wakes to notice shutdown.
const WAKE: Duration = Duration::from_millis(200);

/// Binds `workers` sockets to `addr` and starts a thread on each.
pub fn start(
    addr: SocketAddr,
    workers: usize,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<Vec<JoinHandle<()>>> {
    let mut sockets = Vec::new();
    for _ in 0..workers.max(1) {
        sockets.push(bind(addr)?);
    }
    let mut handles = Vec::new();
    for (i, sock) in sockets.into_iter().enumerate() {
        let shared = shared.clone();
        let stop = stop.clone();
        let h = std::thread::Builder::new()
            .name(format!("udp-{addr}-{i}"))
            .spawn(move || serve(sock, shared, stop))?;
        handles.push(h);
    }
    Ok(handles)
}

fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_port(true)?;
    // Bursts of queries should queue, not drop.
    let _ = s.set_recv_buffer_size(4 << 20);
    s.bind(&addr.into())?;
    s.set_read_timeout(Some(WAKE))?;
    Ok(s.into())
}

fn serve(sock: UdpSocket, shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    let sock = Arc::new(sock);
    let mut buf = vec![0u8; 65535];
    while !stop.load(Ordering::Relaxed) {
        let (len, peer) = match sock.recv_from(&mut buf) {
            Ok(v) => v,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(e) => {
                tracing::warn!("udp receive on {:?}: {e}", sock.local_addr());
                continue;
            }
        };
        let source = Source {
            addr: peer.ip(),
            transport: Transport::Udp,
        };
        match shared.handle(&buf[..len], source) {
            Outcome::Reply(bytes) => {
                let _ = sock.send_to(&bytes, peer);
            }
            Outcome::Drop => {}
            Outcome::Update(req) => {
                let sock = sock.clone();
                shared.submit_update(
                    req,
                    Box::new(move |bytes: Vec<u8>| {
                        let _ = sock.send_to(&bytes, peer);
                    }),
                );
            }
            // Transfers over UDP are refused inside the core.
            Outcome::Transfer(_) => {}
        }
    }
}
