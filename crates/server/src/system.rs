//! The process and its host: dropping root for `[server] user`, and
//! telling systemd (`Type=notify`) that the server is ready.
//!
//! Linux capabilities belong to threads, not to the process: `capset(2)`
//! changes only the calling thread, and a thread copies its creator's set.
//! So the drop happens in `tandem serve`'s main thread before any other
//! thread exists (before the logger, the runtime and every worker), and
//! keeps exactly what binding *and* serving need. Every thread started
//! afterwards has that set and nothing more. A drop after binding would
//! leave the threads started while binding either with root's full set or,
//! after `setuid`, with none (and DHCP's probe threads need CAP_NET_RAW).

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;

use anyhow::{bail, Context as _};
use tandem_config::Config;

/// `CAP_NET_BIND_SERVICE`: DNS on port 53, DHCP on 67, failover on 647.
pub const CAP_NET_BIND_SERVICE: u32 = 10;
/// `CAP_NET_ADMIN`: not kept (named in logs of what was dropped).
pub const CAP_NET_ADMIN: u32 = 12;
/// `CAP_NET_RAW`: `SO_BINDTODEVICE` on the DHCP sockets, the packet socket
/// that unicasts to address-less clients, ICMP echo and ARP probes
/// (conflict detection, failover's partner-down check).
pub const CAP_NET_RAW: u32 = 13;

const CAP_NAMES: &[(u32, &str)] = &[
    (0, "CAP_CHOWN"),
    (1, "CAP_DAC_OVERRIDE"),
    (2, "CAP_DAC_READ_SEARCH"),
    (3, "CAP_FOWNER"),
    (5, "CAP_KILL"),
    (6, "CAP_SETGID"),
    (7, "CAP_SETUID"),
    (8, "CAP_SETPCAP"),
    (CAP_NET_BIND_SERVICE, "CAP_NET_BIND_SERVICE"),
    (CAP_NET_ADMIN, "CAP_NET_ADMIN"),
    (CAP_NET_RAW, "CAP_NET_RAW"),
    (21, "CAP_SYS_ADMIN"),
];

/// The capabilities a server with this configuration needs once running:
/// the same two for DNS and DHCP. A unicast reply to an address-less DHCP
/// client goes through a packet socket (CAP_NET_RAW), not an ARP-table
/// entry (which would need CAP_NET_ADMIN).
pub fn needed_capabilities(_config: &Config) -> Vec<u32> {
    vec![CAP_NET_BIND_SERVICE, CAP_NET_RAW]
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_VERSION_3: u32 = 0x2008_0522;

fn capget() -> io::Result<(u64, u64)> {
    let mut h = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut d = [CapData::default(); 2];
    // SAFETY: capget writes two CapData for version 3; both are ours.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut h, d.as_mut_ptr()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    let eff = u64::from(d[0].effective) | (u64::from(d[1].effective) << 32);
    let perm = u64::from(d[0].permitted) | (u64::from(d[1].permitted) << 32);
    Ok((eff, perm))
}

fn capset(mask: u64) -> io::Result<()> {
    let mut h = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let lo = mask as u32;
    let hi = (mask >> 32) as u32;
    let d = [
        CapData {
            effective: lo,
            permitted: lo,
            inheritable: 0,
        },
        CapData {
            effective: hi,
            permitted: hi,
            inheritable: 0,
        },
    ];
    // SAFETY: capset reads the header and two CapData we own.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut h, d.as_ptr()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn prctl(option: libc::c_int, arg: libc::c_ulong) -> io::Result<()> {
    // SAFETY: prctl with integer arguments only.
    let r = unsafe {
        libc::prctl(
            option,
            arg,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A user from the password database.
struct User {
    name: String,
    uid: libc::uid_t,
    gid: libc::gid_t,
}

fn lookup_user(name: &str) -> anyhow::Result<User> {
    let cname = CString::new(name).context("user name has NUL")?;
    let mut buf = vec![0 as libc::c_char; 16384];
    // SAFETY: passwd is plain data; getpwnam_r fills it with pointers into buf.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; buf outlives the use of pw.
    let r = unsafe {
        libc::getpwnam_r(
            cname.as_ptr(),
            &mut pw,
            buf.as_mut_ptr(),
            buf.len(),
            &mut out,
        )
    };
    if r != 0 {
        bail!(
            "cannot look up user {name}: {}",
            io::Error::from_raw_os_error(r)
        );
    }
    if out.is_null() {
        bail!("[server] user {name:?}: no such user (create it with `adduser --system --group {name}`)");
    }
    Ok(User {
        name: name.to_string(),
        uid: pw.pw_uid,
        gid: pw.pw_gid,
    })
}

fn user_name(uid: libc::uid_t) -> String {
    let mut buf = vec![0 as libc::c_char; 16384];
    // SAFETY: as in lookup_user.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: as in lookup_user.
    let r = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut out) };
    if r != 0 || out.is_null() {
        return uid.to_string();
    }
    // SAFETY: pw_name points into buf, NUL-terminated.
    unsafe { CStr::from_ptr(pw.pw_name) }
        .to_string_lossy()
        .into_owned()
}

fn group_name(gid: libc::gid_t) -> String {
    let mut buf = vec![0 as libc::c_char; 16384];
    // SAFETY: group is plain data; getgrgid_r fills it with pointers into buf.
    let mut gr: libc::group = unsafe { std::mem::zeroed() };
    let mut out: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call.
    let r = unsafe { libc::getgrgid_r(gid, &mut gr, buf.as_mut_ptr(), buf.len(), &mut out) };
    if r != 0 || out.is_null() {
        return gid.to_string();
    }
    // SAFETY: gr_name points into buf, NUL-terminated.
    unsafe { CStr::from_ptr(gr.gr_name) }
        .to_string_lossy()
        .into_owned()
}

fn cap_names(mask: u64) -> String {
    let mut names = Vec::new();
    for bit in 0..64u32 {
        if mask & (1 << bit) != 0 {
            match CAP_NAMES.iter().find(|(b, _)| *b == bit) {
                Some((_, n)) => names.push((*n).to_string()),
                None => names.push(format!("cap_{bit}")),
            }
        }
    }
    names.join(", ")
}

fn mask_of(caps: &[u32]) -> u64 {
    caps.iter().fold(0, |m, c| m | (1u64 << c))
}

/// One line on who the process runs as and with which capabilities, e.g.
/// "running as tandem:tandem with CAP_NET_BIND_SERVICE, CAP_NET_RAW".
pub fn describe() -> String {
    // SAFETY: plain getters.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let who = format!("{}:{}", user_name(uid), group_name(gid));
    match capget() {
        Ok((eff, _)) if uid == 0 && eff.count_ones() > 30 => {
            format!("running as {who} with all capabilities")
        }
        Ok((0, _)) => format!("running as {who} without capabilities"),
        Ok((eff, _)) => format!("running as {who} with {}", cap_names(eff)),
        Err(e) => format!("running as {who} (capabilities unknown: {e})"),
    }
}

/// Gives `path` and everything under it (not following symbolic links) to
/// `uid:gid`.
fn chown_tree(path: &Path, uid: libc::uid_t, gid: libc::gid_t) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// What [`drop_privileges`] did, to log once logging runs.
pub struct Dropped {
    /// The `describe()` line after the drop.
    pub line: String,
    /// Capabilities wanted but not available to this process (a bounding
    /// set without them); the feature that needs them degrades.
    pub missing: Vec<&'static str>,
}

/// With `[server] user`: if running as root, creates the state directory,
/// gives it to the user, then switches to the user and its primary group
/// keeping only [`needed_capabilities`]. Already that user: nothing to do.
/// Any other user: an error. Must run before any thread is started.
pub fn drop_privileges(config: &Config) -> anyhow::Result<Option<Dropped>> {
    let Some(name) = &config.server.user else {
        return Ok(None);
    };
    let user = lookup_user(name)?;
    // SAFETY: plain getter.
    let euid = unsafe { libc::geteuid() };
    if euid == user.uid {
        return Ok(Some(Dropped {
            line: describe(),
            missing: Vec::new(),
        }));
    }
    if euid != 0 {
        bail!(
            "[server] user is {:?} but tandem runs as {} and is not root; start it as root or as that user",
            user.name,
            user_name(euid)
        );
    }
    let state = &config.server.state_dir;
    std::fs::create_dir_all(state)
        .with_context(|| format!("cannot create the state directory {}", state.display()))?;
    chown_tree(state, user.uid, user.gid).with_context(|| {
        format!(
            "cannot give the state directory {} to {}",
            state.display(),
            user.name
        )
    })?;

    let wanted = needed_capabilities(config);
    let (_, permitted) = capget().context("capget")?;
    let keep = mask_of(&wanted) & permitted;
    let missing = CAP_NAMES
        .iter()
        .filter(|(b, _)| wanted.contains(b) && keep & (1 << b) == 0)
        .map(|(_, n)| *n)
        .collect();

    // Nothing outside the kept set can come back, even through an exec.
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(40);
    for cap in 0..=last {
        if keep & (1 << cap) == 0 {
            match prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap)) {
                Ok(()) => {}
                // Not permitted (no CAP_SETPCAP, a container) or unknown:
                // the capability is dropped from the thread's sets below.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EINVAL)) => {}
                Err(e) => return Err(e).context("cannot drop from the bounding set"),
            }
        }
    }
    // Ambient capabilities would survive an exec; there are none to keep.
    let _ = prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
    );
    prctl(libc::PR_SET_KEEPCAPS, 1).context("PR_SET_KEEPCAPS")?;
    // SAFETY: plain syscalls (glibc applies them to every thread; there is
    // only this one).
    unsafe {
        if libc::setgroups(1, &user.gid) != 0 {
            return Err(io::Error::last_os_error()).context("setgroups");
        }
        if libc::setresgid(user.gid, user.gid, user.gid) != 0 {
            return Err(io::Error::last_os_error()).context("setresgid");
        }
        if libc::setresuid(user.uid, user.uid, user.uid) != 0 {
            return Err(io::Error::last_os_error()).context("setresuid");
        }
    }
    capset(keep).context("cannot keep the network capabilities")?;
    prctl(libc::PR_SET_KEEPCAPS, 0).context("PR_SET_KEEPCAPS")?;
    // tandem executes nothing; nothing it could execute gains privileges.
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1).context("PR_SET_NO_NEW_PRIVS")?;
    // SAFETY: plain syscall; it must fail now.
    if unsafe { libc::setuid(0) } == 0 {
        bail!("still able to become root after dropping to {}", user.name);
    }
    Ok(Some(Dropped {
        line: describe(),
        missing,
    }))
}

/// Tells systemd the server is ready (`Type=notify`), if it started us
/// with `NOTIFY_SOCKET`. Anything else is silently nothing.
pub fn notify_ready() {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() else {
        return;
    };
    let bytes = path.as_bytes();
    let msg = format!("READY=1\nMAINPID={}\n", std::process::id());
    let sent = if let Some(abstract_name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt as _;
        std::os::unix::net::SocketAddr::from_abstract_name(abstract_name)
            .and_then(|a| sock.send_to_addr(msg.as_bytes(), &a))
    } else {
        sock.send_to(msg.as_bytes(), Path::new(&path))
    };
    if let Err(e) = sent {
        tracing::warn!("cannot tell systemd we are ready: {e}");
    }
}

/// Hands the heap's free pages back to the kernel. Loading zones and leases
/// parses whole files into temporaries that are gone once start-up is done;
/// glibc keeps the pages they leave between live allocations until asked.
pub fn release_free_memory() {
    // SAFETY: malloc_trim only walks glibc's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}
