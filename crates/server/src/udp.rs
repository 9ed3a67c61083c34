//! UDP listeners: plain threads, one socket each (SO_REUSEPORT spreads the
//! load across them), no async runtime on the query path. A query needs
//! no waiting, so a blocking receive–answer–send loop is the cheapest
//! shell; `recvmmsg`/`sendmmsg` move up to 32 datagrams per system call
//! under load, and the threads share one response cache.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use std::os::fd::AsRawFd;

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

/// Datagrams taken from the kernel per system call.
const BATCH: usize = 32;
/// Receive buffer per datagram; larger requests are truncated and then
/// refused by the parser (a DNS request over UDP is far smaller).
const RECV_SIZE: usize = 4096;

fn serve(sock: UdpSocket, shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    let sock = Arc::new(sock);
    let mut batch = Batch::new();
    let cache = &shared.udp_cache;
    while !stop.load(Ordering::Relaxed) {
        let n = match batch.receive(&sock) {
            Ok(n) => n,
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
        let catalog = shared.store.catalog();
        let now = crate::unix_now();
        let mut replies: Vec<(Vec<u8>, SocketAddr)> = Vec::with_capacity(n);
        for i in 0..n {
            let (bytes, peer) = batch.get(i);
            let Some(peer) = peer else { continue };
            let source = Source {
                addr: peer.ip(),
                transport: Transport::Udp,
            };
            match cache.handle(&catalog, &shared.settings, bytes, source, now) {
                Outcome::Reply(out) => replies.push((out, peer)),
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
                Outcome::Notify(req) => replies.push((shared.notify(req), peer)),
                Outcome::ForwardUpdate(u) => {
                    let sock = sock.clone();
                    shared.forward_update(
                        u,
                        Box::new(move |bytes: Vec<u8>| {
                            let _ = sock.send_to(&bytes, peer);
                        }),
                    );
                }
                Outcome::Forward(req) => {
                    if let Some(f) = &shared.forwarder {
                        let sink = || crate::forward::Sink::Udp(sock.clone(), peer);
                        if let Some(out) = f.query(req, sink) {
                            replies.push((out, peer));
                        }
                    }
                }
            }
        }
        send_all(&sock, &replies);
    }
}

/// Buffers for one `recvmmsg` call.
struct Batch {
    bufs: Vec<[u8; RECV_SIZE]>,
    addrs: Vec<libc::sockaddr_storage>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

// SAFETY: the raw pointers inside point into the struct's own vectors,
// which move with it and are only used by the owning thread.
unsafe impl Send for Batch {}

impl Batch {
    fn new() -> Batch {
        Batch {
            bufs: vec![[0u8; RECV_SIZE]; BATCH],
            // SAFETY: sockaddr_storage and mmsghdr are plain C structs for
            // which all-zero bytes are a valid value.
            addrs: vec![unsafe { std::mem::zeroed() }; BATCH],
            iovs: Vec::with_capacity(BATCH),
            hdrs: Vec::with_capacity(BATCH),
        }
    }

    /// Waits for at least one datagram (or the socket's read timeout) and
    /// takes up to [`BATCH`] without waiting further.
    fn receive(&mut self, sock: &UdpSocket) -> std::io::Result<usize> {
        self.iovs.clear();
        self.hdrs.clear();
        for buf in self.bufs.iter_mut() {
            self.iovs.push(libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: RECV_SIZE,
            });
        }
        for i in 0..BATCH {
            // SAFETY: as above, zeroed mmsghdr is valid; we fill the fields.
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_iov = &mut self.iovs[i];
            h.msg_hdr.msg_iovlen = 1;
            self.hdrs.push(h);
        }
        // SAFETY: every header points at a live buffer and address slot of
        // this struct, sized as declared; the kernel writes within them.
        let n = unsafe {
            libc::recvmmsg(
                sock.as_raw_fd(),
                self.hdrs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// The i-th datagram of the last receive and its sender.
    fn get(&self, i: usize) -> (&[u8], Option<SocketAddr>) {
        let len = (self.hdrs[i].msg_len as usize).min(RECV_SIZE);
        (&self.bufs[i][..len], sockaddr_to_std(&self.addrs[i]))
    }
}

fn sockaddr_to_std(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match ss.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says this storage holds a sockaddr_in.
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::new(ip.into(), u16::from_be(a.sin_port)))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this storage holds a sockaddr_in6.
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(std::net::SocketAddrV6::new(
                ip,
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Sends every reply with as few `sendmmsg` calls as the kernel allows.
fn send_all(sock: &UdpSocket, replies: &[(Vec<u8>, SocketAddr)]) {
    if replies.is_empty() {
        return;
    }
    let addrs: Vec<socket2::SockAddr> = replies.iter().map(|(_, a)| (*a).into()).collect();
    let mut iovs: Vec<libc::iovec> = replies
        .iter()
        .map(|(b, _)| libc::iovec {
            iov_base: b.as_ptr() as *mut libc::c_void,
            iov_len: b.len(),
        })
        .collect();
    let mut hdrs: Vec<libc::mmsghdr> = (0..replies.len())
        .map(|i| {
            // SAFETY: zeroed mmsghdr is valid; we fill the fields we use.
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_name = addrs[i].as_ptr() as *mut libc::c_void;
            h.msg_hdr.msg_namelen = addrs[i].len();
            h.msg_hdr.msg_iov = &mut iovs[i];
            h.msg_hdr.msg_iovlen = 1;
            h
        })
        .collect();
    let mut sent = 0;
    while sent < hdrs.len() {
        // SAFETY: the headers point at live reply buffers and addresses
        // that outlive this call; the kernel only reads them.
        let n = unsafe {
            libc::sendmmsg(
                sock.as_raw_fd(),
                hdrs[sent..].as_mut_ptr(),
                (hdrs.len() - sent) as libc::c_uint,
                0,
            )
        };
        if n <= 0 {
            // A reply the kernel will not take (e.g. an unreachable peer):
            // skip it rather than spin.
            sent += 1;
        } else {
            sent += n as usize;
        }
    }
}
