//! Unicast to a client that has no address yet (RFC 2131 §4.1: to its
//! hardware address and `yiaddr`) through a packet socket, as ISC dhcpd
//! does. This needs CAP_NET_RAW only; the other way, an ARP-table entry
//! (SIOCSARP), needs CAP_NET_ADMIN, which a server that dropped its
//! privileges should not keep.
//!
//! The socket is `AF_PACKET`/`SOCK_DGRAM` with protocol 0: the kernel
//! writes the Ethernet header from the destination address, and nothing is
//! ever received on it. This module builds the IPv4 and UDP headers.

use std::io;
use std::net::SocketAddrV4;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `ETH_P_IP`, the Ethernet type of IPv4.
const ETH_P_IP: u16 = 0x0800;

/// A packet socket for one interface.
pub struct RawLink {
    fd: OwnedFd,
    ifindex: i32,
}

impl RawLink {
    pub fn open(iface: &str) -> io::Result<RawLink> {
        let name = std::ffi::CString::new(iface)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name"))?;
        // SAFETY: plain call with a NUL-terminated string.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: plain syscall; the descriptor is owned below.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(RawLink {
            // SAFETY: `fd` is a fresh descriptor nobody else owns.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            ifindex: ifindex as i32,
        })
    }

    /// Sends `payload` from `src` to `dst` as one IPv4/UDP datagram in an
    /// Ethernet frame addressed to `hw`.
    pub fn send(
        &self,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        hw: [u8; 6],
        payload: &[u8],
    ) -> io::Result<()> {
        let packet = ipv4_udp(src, dst, payload);
        // SAFETY: an all-zero sockaddr_ll is valid; the fields are set below.
        let mut to: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        to.sll_family = libc::AF_PACKET as u16;
        to.sll_protocol = ETH_P_IP.to_be();
        to.sll_ifindex = self.ifindex;
        to.sll_halen = 6;
        to.sll_addr[..6].copy_from_slice(&hw);
        // SAFETY: the buffer and the address live for the call; the length
        // is the address's own size.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                packet.as_ptr().cast(),
                packet.len(),
                0,
                (&to as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// The Internet checksum (RFC 1071) of `parts`, one after the other.
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    let mut odd: Option<u8> = None;
    for part in parts {
        for &b in *part {
            match odd.take() {
                Some(hi) => sum += u32::from(u16::from_be_bytes([hi, b])),
                None => odd = Some(b),
            }
        }
    }
    if let Some(hi) = odd {
        sum += u32::from(u16::from_be_bytes([hi, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 packet (no options, TTL 64, don't fragment) carrying one UDP
/// datagram with its checksum: dhclient and udhcpc read raw frames and
/// check both.
pub fn ipv4_udp(src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let total = 20 + udp_len;
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[0x45, 0x00]);
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0x40, 0x00, 64, 17, 0, 0]);
    p.extend_from_slice(&src.ip().octets());
    p.extend_from_slice(&dst.ip().octets());
    let ip_sum = checksum(&[&p[..20]]);
    p[10..12].copy_from_slice(&ip_sum.to_be_bytes());
    let mut udp = Vec::with_capacity(8);
    udp.extend_from_slice(&src.port().to_be_bytes());
    udp.extend_from_slice(&dst.port().to_be_bytes());
    udp.extend_from_slice(&(udp_len as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    let mut pseudo = Vec::with_capacity(12);
    pseudo.extend_from_slice(&src.ip().octets());
    pseudo.extend_from_slice(&dst.ip().octets());
    pseudo.extend_from_slice(&[0, 17]);
    pseudo.extend_from_slice(&(udp_len as u16).to_be_bytes());
    let mut udp_sum = checksum(&[&pseudo, &udp, payload]);
    // RFC 768: a computed zero is sent as all ones (zero means "none").
    if udp_sum == 0 {
        udp_sum = 0xffff;
    }
    udp[6..8].copy_from_slice(&udp_sum.to_be_bytes());
    p.extend_from_slice(&udp);
    p.extend_from_slice(payload);
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn headers_and_checksums_verify() {
        let src = SocketAddrV4::new(Ipv4Addr::new(192, 168, 0, 254), 67);
        let dst = SocketAddrV4::new(Ipv4Addr::new(192, 168, 0, 100), 68);
        for payload in [&b""[..], b"x", b"a DHCP reply, odd length"] {
            let p = ipv4_udp(src, dst, payload);
            assert_eq!(p.len(), 28 + payload.len());
            assert_eq!(u16::from_be_bytes([p[2], p[3]]) as usize, p.len());
            // A correct header sums to zero (its checksum included).
            assert_eq!(checksum(&[&p[..20]]), 0);
            let mut pseudo = Vec::new();
            pseudo.extend_from_slice(&p[12..20]);
            pseudo.extend_from_slice(&[0, 17]);
            pseudo.extend_from_slice(&p[24..26]);
            assert_eq!(checksum(&[&pseudo, &p[20..]]), 0);
            assert_eq!(&p[20..24], &[0, 67, 0, 68]);
            assert_eq!(&p[28..], payload);
        }
    }

    #[test]
    fn checksum_is_rfc1071() {
        // RFC 1071 §3's example: 0001 f203 f4f5 f6f7 sums to ddf2.
        assert_eq!(
            checksum(&[&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]]),
            !0xddf2
        );
    }
}
