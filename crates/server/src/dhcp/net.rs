//! Linux specifics of DHCP I/O: an interface's IPv4 addresses, a UDP socket
//! bound to one device, reaching a client that has no address yet (an ARP
//! entry, as dnsmasq does), and the ICMP echo that probes for a squatter.

use std::ffi::CString;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// The IPv4 addresses (with prefix lengths) of interface `name`.
pub fn interface_addrs(name: &str) -> io::Result<Vec<(Ipv4Addr, u8)>> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_netmask.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let ifname = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) };
        if ifname.to_bytes() != name.as_bytes() {
            continue;
        }
        // SAFETY: ifa_addr is non-null and at least a sockaddr.
        if i32::from(unsafe { (*ifa.ifa_addr).sa_family }) != libc::AF_INET {
            continue;
        }
        // SAFETY: the family is AF_INET, so both are sockaddr_in.
        let (addr, mask) = unsafe {
            let a = &*(ifa.ifa_addr as *const libc::sockaddr_in);
            let m = &*(ifa.ifa_netmask as *const libc::sockaddr_in);
            (
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u32::from_be(m.sin_addr.s_addr),
            )
        };
        out.push((addr, mask.count_ones() as u8));
    }
    // SAFETY: `head` came from getifaddrs.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

/// A UDP socket on `0.0.0.0:port` that sees only `iface`'s traffic and
/// sends through it (SO_BINDTODEVICE), with broadcast allowed.
pub fn bind_device(iface: &str, port: u16) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_broadcast(true)?;
    // Room for bursts: replies leave in batches after each group commit.
    let _ = s.set_recv_buffer_size(4 << 20);
    let _ = s.set_send_buffer_size(4 << 20);
    s.bind_device(Some(iface.as_bytes()))?;
    s.bind(&SockAddr::from(SocketAddrV4::new(
        Ipv4Addr::UNSPECIFIED,
        port,
    )))?;
    s.set_read_timeout(Some(Duration::from_millis(250)))?;
    Ok(s.into())
}

/// Tells the kernel that `ip` is at `hw` on `iface`, so a unicast to a
/// client without an address needs no ARP answer it cannot give.
pub fn set_arp_entry(sock: &UdpSocket, iface: &str, ip: Ipv4Addr, hw: [u8; 6]) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: arpreq is plain data; all-zero is a valid value.
    let mut req: libc::arpreq = unsafe { std::mem::zeroed() };
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in fits in the sockaddr slot of arpreq.
    unsafe {
        std::ptr::copy_nonoverlapping(
            &sin as *const libc::sockaddr_in as *const u8,
            &mut req.arp_pa as *mut libc::sockaddr as *mut u8,
            size_of::<libc::sockaddr_in>(),
        );
    }
    req.arp_ha.sa_family = libc::ARPHRD_ETHER;
    for (d, s) in req.arp_ha.sa_data.iter_mut().zip(hw) {
        *d = s as libc::c_char;
    }
    req.arp_flags = libc::ATF_COM;
    let name = CString::new(iface).map_err(|_| io::Error::other("interface name has NUL"))?;
    for (d, s) in req.arp_dev.iter_mut().zip(name.as_bytes()) {
        *d = *s as libc::c_char;
    }
    // SAFETY: SIOCSARP reads an arpreq we own for the call's duration.
    let r = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSARP, &req) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Sends ICMP echo requests to `ip` through `iface` and says whether
/// anything answered within `timeout` (ISC's ping-check).
pub fn icmp_probe(iface: &str, ip: Ipv4Addr, timeout: Duration) -> io::Result<bool> {
    let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))?;
    s.bind_device(Some(iface.as_bytes()))?;
    let id = (std::process::id() as u16) ^ (u32::from(ip) as u16);
    let mut echo = vec![8u8, 0, 0, 0];
    echo.extend_from_slice(&id.to_be_bytes());
    echo.extend_from_slice(&1u16.to_be_bytes());
    echo.extend_from_slice(b"tandem conflict probe");
    let c = checksum(&echo);
    echo[2..4].copy_from_slice(&c.to_be_bytes());
    let to = SockAddr::from(SocketAddrV4::new(ip, 0));
    s.send_to(&echo, &to)?;
    let deadline = Instant::now() + timeout;
    let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 1500];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        s.set_read_timeout(Some(left))?;
        let (n, from) = match s.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(false)
            }
            Err(e) => return Err(e),
        };
        // SAFETY: recv_from initialised the first n bytes.
        let pkt: Vec<u8> = buf[..n]
            .iter()
            .map(|b| unsafe { b.assume_init() })
            .collect();
        let from_ip = from.as_socket_ipv4().map(|a| *a.ip());
        if from_ip != Some(ip) || pkt.is_empty() {
            continue;
        }
        // A raw socket receives the IP header too.
        let ihl = usize::from(pkt[0] & 0x0f) * 4;
        let Some(icmp) = pkt.get(ihl..) else { continue };
        if icmp.len() >= 8 && icmp[0] == 0 && icmp[4..6] == id.to_be_bytes() {
            return Ok(true);
        }
    }
}

/// Sends `bytes` to `to`, logging rather than failing on a send error (a
/// client that vanished must not stop the server).
pub fn send(sock: &UdpSocket, bytes: &[u8], to: SocketAddr) {
    if let Err(e) = sock.send_to(bytes, to) {
        tracing::warn!("DHCP reply to {to} not sent: {e}");
    }
}

/// Asks "who has `ip`?" on `iface` with an ARP probe (RFC 5227: sender
/// address 0.0.0.0, so no neighbour cache learns anything) and says whether
/// anyone answered within `timeout`. Finds hosts that drop pings.
pub fn arp_probe(iface: &str, ip: Ipv4Addr, timeout: Duration) -> io::Result<bool> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let name = CString::new(iface).map_err(|_| io::Error::other("interface name has NUL"))?;
    // SAFETY: if_nametoindex reads a NUL-terminated string.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if ifindex == 0 {
        return Err(io::Error::last_os_error());
    }
    let mac_text = std::fs::read_to_string(format!("/sys/class/net/{iface}/address"))?;
    let mac = tandem_dhcp_wire::options::hex_bytes(mac_text.trim())
        .ok()
        .filter(|m| m.len() == 6)
        .ok_or_else(|| io::Error::other(format!("{iface} has no Ethernet address")))?;
    let proto = (libc::ETH_P_ARP as u16).to_be();
    // SAFETY: a plain socket(2) call; the fd is owned below.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM, i32::from(proto)) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_ll is plain data; all-zero is valid.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = proto;
    addr.sll_ifindex = ifindex as i32;
    addr.sll_halen = 6;
    addr.sll_addr[..6].copy_from_slice(&[0xff; 6]);
    let len = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: addr is a valid sockaddr_ll of `len` bytes.
    if unsafe {
        libc::bind(
            fd.as_raw_fd(),
            &addr as *const _ as *const libc::sockaddr,
            len,
        )
    } != 0
    {
        return Err(io::Error::last_os_error());
    }
    let mut req = Vec::with_capacity(28);
    req.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    req.extend_from_slice(&mac);
    req.extend_from_slice(&[0, 0, 0, 0]);
    req.extend_from_slice(&[0; 6]);
    req.extend_from_slice(&ip.octets());
    // SAFETY: sends `req` to the broadcast address described by `addr`.
    let sent = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            req.as_ptr() as *const libc::c_void,
            req.len(),
            0,
            &addr as *const _ as *const libc::sockaddr,
            len,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 128];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: polls one descriptor we own.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        if r == 0 {
            return Ok(false);
        }
        // SAFETY: reads into our buffer.
        let n = unsafe {
            libc::recv(
                fd.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                0,
            )
        };
        if n < 28 {
            continue;
        }
        let p = &buf[..n as usize];
        // A reply (op 2) whose sender protocol address is the probed one.
        if p[6..8] == [0, 2] && p[14..18] == ip.octets() {
            return Ok(true);
        }
    }
}
