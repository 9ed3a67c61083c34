#!/usr/bin/python3
"""A DHCP failover pair: a tandem pair vs an ISC dhcpd 4.4 pair, same config.

  bench/failoverbench.py [--rates R,R,...] [--period S] [--churn-rate R]
                         [--churn-period S] [--kill-at S] [--only tandem|isc]
                         [--skip-ladder] [--skip-outage] [--keep]
                         [--udhcpc-clients N] [--udhcpc-period S]
                         [--udhcpc-kill-at S] [--udhcpc-rounds N]

Each pair lives in network namespaces of its own, shaped like the seed:

    [tfob-PID-K-lan]  br0 ─┬─ p1 ══ veth ══ s1  192.168.0.254/16 [tfob-PID-K-s1]  primary
                           ├─ p2 ══ veth ══ s2  192.168.0.253/16 [tfob-PID-K-s2]  secondary
                           └─ p3 ══ veth ══ c   192.168.0.10/16  [tfob-PID-K-c]   perfdhcp

(K is `t` for the tandem pair, `i` for the ISC pair; both labs exist at
once, so the two pairs never share a broadcast domain.) Both servers get the
seed's `failover peer "dhcp-failover"` block verbatim (mclt 1800, split 128,
max-response-delay 30, max-unacked-updates 10, load balance max seconds 3);
the subnet is widened from the seed's /24 to 192.168.0.0/16 so the pool
(192.168.1.0 - 192.168.150.255, 38,400 addresses) outlasts the ladder
and the outage runs, while the pair's first synchronisation stays short.
perfdhcp talks to the servers directly (no relay): its DISCOVERs are
broadcast, both servers see each one, and the load-balancing hash decides
which answers, as on the seed's LAN.

Phases:
  1. Both pairs started fresh; each waits for "Both servers normal" on both
     nodes and for the primary's pool balancing (half the pool sent to the
     secondary as BNDUPDs) to finish.
  2. Ladder: at each rate, the pairs take turns (order alternating), one
     bounded perfdhcp run each (full DORA, every client new). tcpdump in
     both server namespaces records DHCP and TCP 647 for the run and a
     bounded drain after it; from the captures: for every ACKed address,
     the time from the node's DHCPACK to the BNDACK it got from its partner
     for that address (and BNDUPD -> BNDACK, the partner's share).
  3. Outage: per pair, a churn of new clients (perfdhcp at a moderate rate)
     without a kill (baseline), then with `kill -9` of the secondary at
     --kill-at seconds, then (after the victim is restarted and the pair is
     back to normal) of the primary; --kill-rounds times each. A capture in the client namespace
     gives every exchange's DISCOVER -> ACK time: failed = DISCOVERs never
     ACKed, delayed = ACKed after more than 1 s.

  4. Outage with retrying clients (--udhcpc-clients N, e.g. 30): N more
     namespaces on the same bridge, each looping BusyBox `udhcpc -f -q
     -t 10 -T 1 -A 1` (under `timeout 10`) with a new MAC per round (a new client each time,
     0.2 s apart) for --udhcpc-period s: baseline, then kill -9 of the
     secondary, then of the primary, at --udhcpc-kill-at s. The clients'
     script only appends the event to a file (udhcpc configures nothing).
     Per run: DORAs attempted, completed, failed (no lease in 10 s), and
     completed in more than 1 s / 3 s.

Every wait and run is bounded; every process is ended by PID; the
namespaces are deleted on exit, on error and on Ctrl-C. Nothing is sent
from the root namespace: every veth end is created in its namespace.
"""
import argparse, os, re, shutil, signal, socket, struct, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import started, sh, in_ns, add_namespace, cleanup, on_signal  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TANDEM = os.environ.get("TANDEM") or os.path.join(ROOT, "target/release/tandem")
NAME = "dhcp-failover"
PRIMARY, SECONDARY, CLIENT = "192.168.0.254", "192.168.0.253", "192.168.0.10"
PREFIX = 16
POOL = ("192.168.1.0", "192.168.150.255")
POOL_SIZE = 150 * 256
LEASE_TIME = 7200
RATES = [100, 250, 500, 1000, 2000, 3000]
DELAYED = 1.0            # an exchange ACKed later than this (s) counts as delayed
PAIR_TIMEOUT = 120       # s: fresh pair to normal with pool balancing done
DRAIN_MAX = 30           # s: after a run, wait at most this for BNDACKs

KEEP = False             # --keep: the captures too


def log(*a):
    print(*a, flush=True)


def loadavg():
    return " ".join(open("/proc/loadavg").read().split()[:3])


# ---------------------------------------------------------------- topology

class Lab:
    def __init__(self, tag, clients=0):
        base = f"tfob-{os.getpid()}-{tag}"
        self.tag = tag
        self.lan, self.s1, self.s2, self.c = (f"{base}-{x}" for x in ("lan", "s1", "s2", "c"))
        for ns in (self.lan, self.s1, self.s2, self.c):
            add_namespace(ns)
        sh("ip", "-n", self.lan, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.lan, "link", "set", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0")
        sh("ip", "-n", self.lan, "link", "set", "br0", "up")
        self.if_s1 = self._host(self.s1, "s1", "p1", f"{PRIMARY}/{PREFIX}", "02:74:66:00:00:01")
        self.if_s2 = self._host(self.s2, "s2", "p2", f"{SECONDARY}/{PREFIX}", "02:74:66:00:00:02")
        self.if_c = self._host(self.c, "c", "p3", f"{CLIENT}/{PREFIX}", "02:74:66:00:00:03")
        # --udhcpc-clients: one namespace per retrying client, no address.
        self.ucs = []
        for i in range(clients):
            ns = f"{base}-u{i}"
            add_namespace(ns)
            sh("ip", "-n", ns, "link", "add", f"u{i}", "type", "veth", "peer", "name", f"q{i}", "netns", self.lan)
            sh("ip", "-n", self.lan, "link", "set", f"q{i}", "master", "br0")
            sh("ip", "-n", self.lan, "link", "set", f"q{i}", "up")
            sh("ip", "-n", ns, "link", "set", f"u{i}", "up")
            self.ucs.append((ns, f"u{i}"))
        for ns in (self.s1, self.s2, self.c) + tuple(n for n, _ in self.ucs):
            assert "default" not in sh("ip", "-n", ns, "-4", "route", "show")

    def _host(self, ns, iface, port, cidr, mac):
        # Made in the host's namespace with its peer placed straight in the
        # lan namespace: no end is ever in the root namespace.
        sh("ip", "-n", ns, "link", "add", iface, "address", mac, "type", "veth", "peer", "name", port, "netns", self.lan)
        sh("ip", "-n", self.lan, "link", "set", port, "master", "br0")
        sh("ip", "-n", self.lan, "link", "set", port, "up")
        sh("ip", "-n", ns, "addr", "add", cidr, "dev", iface)
        sh("ip", "-n", ns, "link", "set", iface, "up")
        return iface


# ---------------------------------------------------------------- servers

def tandem_toml(role, iface, state):
    me, peer = (PRIMARY, SECONDARY) if role == "primary" else (SECONDARY, PRIMARY)
    primary_only = "mclt = 1800\nsplit = 128\n" if role == "primary" else ""
    return (f'[server]\nstate-dir = "{state}"\n[dns]\nlisten = []\n'
            f'[dhcp]\ninterfaces = ["{iface}"]\nconflict-detection = "none"\n'
            f'default-lease-time = {LEASE_TIME}\nmax-lease-time = {LEASE_TIME}\n'
            f'[[dhcp.failover]]\nname = "{NAME}"\nrole = "{role}"\naddress = "{me}"\nport = 647\n'
            f'peer-address = "{peer}"\npeer-port = 647\nmax-response-delay = 30\nmax-unacked-updates = 10\n'
            f'load-balance-max-seconds = 3\n{primary_only}'
            f'[[dhcp.subnet]]\nsubnet = "192.168.0.0/{PREFIX}"\n'
            f'[[dhcp.subnet.pool]]\nrange = "{POOL[0]} - {POOL[1]}"\nfailover-peer = "{NAME}"\n')


def dhcpd_conf(role):
    me, peer = (PRIMARY, SECONDARY) if role == "primary" else (SECONDARY, PRIMARY)
    primary_only = "  mclt 1800;\n  split 128;\n" if role == "primary" else ""
    return ("authoritative;\nddns-update-style none;\nping-check false;\n"
            f"default-lease-time {LEASE_TIME};\nmax-lease-time {LEASE_TIME};\n"
            f'failover peer "{NAME}" {{\n  {role};\n  address {me};\n  port 647;\n  peer address {peer};\n'
            "  peer port 647;\n  max-response-delay 30;\n  max-unacked-updates 10;\n"
            f"  load balance max seconds 3;\n{primary_only}}}\n"
            "subnet 192.168.0.0 netmask 255.255.0.0 {\n  pool {\n"
            f'    range {POOL[0]} {POOL[1]};\n    failover peer "{NAME}";\n  }}\n}}\n')


class Node:
    def __init__(self, kind, role, lab, work):
        self.kind, self.role, self.lab = kind, role, lab
        self.ns = lab.s1 if role == "primary" else lab.s2
        self.iface = lab.if_s1 if role == "primary" else lab.if_s2
        self.ip = PRIMARY if role == "primary" else SECONDARY
        self.dir = os.path.join(work, f"{kind}-{role}")
        os.makedirs(self.dir)
        self.log = os.path.join(self.dir, "log")
        self.runs = 0
        self.proc = None
        if kind == "tandem":
            conf = os.path.join(self.dir, "tandem.toml")
            self.state = os.path.join(self.dir, "state")
            open(conf, "w").write(tandem_toml(role, self.iface, self.state))
            self.argv = [TANDEM, "serve", "--config", conf]
            self.ready = "tandem ready:"
        else:
            conf = os.path.join(self.dir, "dhcpd.conf")
            self.leasefile = os.path.join(self.dir, "dhcpd.leases")
            open(self.leasefile, "w").close()
            open(conf, "w").write(dhcpd_conf(role))
            self.argv = ["dhcpd", "-f", "-d", "-4", "-cf", conf, "-lf", self.leasefile,
                         "-pf", os.path.join(self.dir, "dhcpd.pid"), self.iface]
            self.ready = "Server starting service"

    def text(self):
        return open(self.log, errors="replace").read() if os.path.exists(self.log) else ""

    def start(self):
        self.runs += 1
        with open(self.log, "a") as out:
            out.write(f"\n===== start {self.runs} at {time.time():.3f}\n")
            out.flush()
            before = self.text().count(self.ready)
            self.proc = subprocess.Popen(in_ns(self.ns, *self.argv), stdout=out, stderr=subprocess.STDOUT)
        started.append(self.proc)
        self.wait_count(self.ready, before + 1, 30)

    def wait_count(self, needle, n, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.text().count(needle) >= n:
                return
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.kind} {self.role} exited:\n{self.text()[-3000:]}")
            time.sleep(0.05)
        raise SystemExit(f"{self.kind} {self.role}: {needle!r} not seen {n} times in {timeout}s:\n{self.text()[-4000:]}")

    def kill9(self):
        # `ip netns exec` execs the server: our child is the server itself.
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cpu(self):
        """CPU seconds the server process has used (all threads)."""
        try:
            f = open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

    def status(self):
        if self.kind != "tandem":
            return ""
        r = subprocess.run([TANDEM, "status", "--socket", os.path.join(self.state, "control.sock")],
                           capture_output=True, text=True, timeout=10)
        return r.stdout


NORMAL = f"failover peer {NAME}: Both servers normal"


class Pair:
    def __init__(self, kind, work, clients=0):
        self.kind = kind
        self.lab = Lab(kind[0], clients)
        self.p = Node(kind, "primary", self.lab, work)
        self.s = Node(kind, "secondary", self.lab, work)

    def nodes(self):
        return (self.p, self.s)

    def start(self):
        t0 = time.time()
        counts = [n.text().count(NORMAL) for n in self.nodes()]
        self.p.start()
        self.s.start()
        for n, c in zip(self.nodes(), counts):
            n.wait_count(NORMAL, c + 1, PAIR_TIMEOUT)
        t_normal = time.time() - t0
        self.wait_balanced(PAIR_TIMEOUT)
        return t_normal, time.time() - t0

    def wait_balanced(self, timeout):
        """Until the secondary holds its half of the pool (BACKUP) and no
        binding update is pending."""
        deadline = time.time() + timeout
        last = ""
        while time.time() < deadline:
            if self.kind == "tandem":
                st = self.p.status() + self.s.status()
                last = st
                pend = [int(x) for x in re.findall(r"(\d+) pending updates", st)]
                backup = [int(x) for x in re.findall(r"(\d+) backup", st)]
                free = [int(x) for x in re.findall(r"(\d+) free", st)]
                if pend and not any(pend) and backup and free and backup[0] > 0 \
                        and abs(backup[0] - free[0]) <= POOL_SIZE // 10 and self.idle_link():
                    return
            else:
                # dhcpd logs a balancing line for the pool; the primary's
                # "IMBALANCE" lines stop and the secondary logs its share.
                txt = self.p.text()
                m = re.findall(r"balanc(?:ing|ed) pool \S+ 192\.168\.0\.0/16  total (\d+)  free (\d+)  backup (\d+)", txt)
                last = m[-1] if m else txt[-500:]
                if m and abs(int(m[-1][1]) - int(m[-1][2])) <= POOL_SIZE // 10 and self.idle_link():
                    return
            time.sleep(0.5)
        raise SystemExit(f"{self.kind} pair: pool balancing not done in {timeout}s: {last}")

    def link_bytes(self):
        """Bytes moved so far on the failover link, seen from the primary."""
        out = sh(*in_ns(self.p.ns, "ss", "-tniH", "state", "established", "( sport = :647 or dport = :647 )"))
        return sum(int(x) for x in re.findall(r"bytes_(?:acked|received):(\d+)", out))

    def idle_link(self):
        """The link carried (almost) nothing for 1 s, twice in a row: no
        binding updates in flight (CONTACTs are every 10 s, 12 bytes)."""
        for _ in range(2):
            b0 = self.link_bytes()
            time.sleep(1)
            if self.link_bytes() - b0 > 200:
                return False
        return True

    def stop(self):
        for n in self.nodes():
            n.stop()


# ---------------------------------------------------------------- captures

class Capture:
    def __init__(self, ns, iface, path, bpf):
        self.path = path
        self.err = path + ".err"
        self.proc = subprocess.Popen(in_ns(ns, "tcpdump", "-i", iface, "-n", "-U", "-B", "16384", "-s", "1600",
                                           "-w", path, bpf),
                                     stdout=subprocess.DEVNULL, stderr=open(self.err, "w"))
        started.append(self.proc)
        deadline = time.time() + 10
        while "listening on" not in open(self.err).read():
            if time.time() > deadline or self.proc.poll() is not None:
                raise SystemExit(f"tcpdump did not start: {open(self.err).read()}")
            time.sleep(0.02)

    def size(self):
        return os.path.getsize(self.path) if os.path.exists(self.path) else 0

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(10)
        m = re.search(r"(\d+) packets dropped by kernel", open(self.err).read())
        return int(m.group(1)) if m else -1


def read_pcap(path):
    """(time, src ip, dst ip, proto, sport, dport, tcp seq or 0, payload) per IPv4 packet."""
    data = open(path, "rb").read()
    if len(data) < 24:
        return
    magic = struct.unpack("<I", data[:4])[0]
    e, scale = ("<", 1e-6) if magic == 0xa1b2c3d4 else ("<", 1e-9) if magic == 0xa1b23c4d else (">", 1e-6)
    link = struct.unpack(e + "I", data[20:24])[0]
    off = 24
    while off + 16 <= len(data):
        ts, tf, incl, _orig = struct.unpack(e + "IIII", data[off:off + 16])
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if link == 1:
            if len(pkt) < 14 or pkt[12:14] != b"\x08\x00":
                continue
            ip = pkt[14:]
        elif link == 113:
            ip = pkt[16:]
        else:
            continue
        if len(ip) < 20 or ip[0] >> 4 != 4:
            continue
        ihl, proto = (ip[0] & 15) * 4, ip[9]
        tot = struct.unpack("!H", ip[2:4])[0]
        src, dst = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
        l4 = ip[ihl:tot]
        t = ts + tf * scale
        if proto == 17 and len(l4) >= 8:
            sp, dp = struct.unpack("!HH", l4[:4])
            yield t, src, dst, "udp", sp, dp, 0, l4[8:]
        elif proto == 6 and len(l4) >= 20:
            sp, dp, seq = struct.unpack("!HHI", l4[:8])
            doff = (l4[12] >> 4) * 4
            yield t, src, dst, "tcp", sp, dp, seq, l4[doff:]


def dhcp_msg(p):
    """(op, xid, yiaddr, message type) of a BOOTP payload, or None."""
    if len(p) < 240 or p[236:240] != b"\x63\x82\x53\x63":
        return None
    op, xid, yiaddr = p[0], struct.unpack("!I", p[4:8])[0], socket.inet_ntoa(p[16:20])
    i, mtype = 240, None
    while i < len(p) and p[i] != 255:
        if p[i] == 0:
            i += 1
            continue
        if i + 1 >= len(p):
            break
        code, ln = p[i], p[i + 1]
        if code == 53 and ln >= 1:
            mtype = p[i + 2]
        i += 2 + ln
    return op, xid, yiaddr, mtype


BNDUPD, BNDACK = 3, 4


def fo_messages(buf):
    """Whole failover messages at the front of buf: ([(type, assigned IP or
    None)], bytes used). Resynchronises on a plausible header if the
    capture started mid-message."""
    out, i = [], 0
    while i + 12 <= len(buf):
        ln, typ, po = struct.unpack("!HBB", buf[i:i + 4])
        if not (12 <= ln <= 4096 and 1 <= typ <= 12 and po == 12) or not _walk(buf[i + 12:i + ln], ln - 12):
            if i + ln > len(buf) and 12 <= ln <= 4096 and 1 <= typ <= 12 and po == 12:
                break           # plausibly the start of a message not all here yet
            i += 1
            continue
        body, addr = buf[i + 12:i + ln], None
        j = 0
        while j + 4 <= len(body):
            code, olen = struct.unpack("!HH", body[j:j + 4])
            if code == 2 and olen == 4:
                addr = socket.inet_ntoa(body[j + 4:j + 8])
            j += 4 + olen
        out.append((typ, addr))
        i += ln
    return out, i


def _walk(body, want):
    if len(body) < want:
        return len(body) >= 0 and _prefix_ok(body)
    j = 0
    while j + 4 <= want:
        j += 4 + struct.unpack("!H", body[j + 2:j + 4])[0]
    return j == want


def _prefix_ok(body):
    j = 0
    while j + 4 <= len(body):
        j += 4 + struct.unpack("!H", body[j + 2:j + 4])[0]
    return True


class Stream:
    """One direction of a TCP connection, reassembled in sequence order."""

    def __init__(self):
        self.next, self.buf = None, b""

    def feed(self, seq, payload):
        if not payload:
            return []
        if self.next is None:
            self.next = seq
        d = (seq - self.next) & 0xffffffff
        if d >= 0x80000000:                       # old data (retransmission)
            back = (self.next - seq) & 0xffffffff
            if back >= len(payload):
                return []
            payload, seq = payload[back:], self.next
        elif d:                                   # a gap: lost from the capture
            self.buf = b""
            self.next = seq
        self.buf += payload
        self.next = (seq + len(payload)) & 0xffffffff
        msgs, used = fo_messages(self.buf)
        self.buf = self.buf[used:]
        return msgs


def failover_delays(pcap, me):
    """From one server's capture: for each address it ACKed, (ACK -> BNDACK,
    BNDUPD -> BNDACK) in seconds, and the number ACKed with no BNDACK seen."""
    acks, upd, bndack, offers = {}, {}, {}, set()
    streams = {}
    for t, src, dst, proto, sp, dp, seq, pay in read_pcap(pcap):
        if proto == "udp" and src == me and sp == 67:
            m = dhcp_msg(pay)
            if m and m[0] == 2 and m[3] == 2:
                offers.add(m[2])
            elif m and m[0] == 2 and m[3] == 5:
                acks.setdefault(m[2], t)
        elif proto == "tcp" and 647 in (sp, dp):
            key = (src, sp, dst, dp)
            for typ, addr in streams.setdefault(key, Stream()).feed(seq, pay):
                if addr is None:
                    continue
                if typ == BNDUPD and src == me:
                    upd.setdefault(addr, []).append(t)
                elif typ == BNDACK and dst == me:
                    bndack.setdefault(addr, []).append(t)
    # Only the node's own leases: an address it OFFERed. (dhcpd also ACKs a
    # REQUEST that names its partner as the server when the partner's
    # BNDUPD for it has arrived: "reuse_lease"; no BNDUPD follows those.)
    foreign = sum(1 for a in acks if a not in offers)
    acks = {a: t for a, t in acks.items() if a in offers}
    ack_d, upd_d, missing = [], [], 0
    for addr, t0 in acks.items():
        ups = [t for t in upd.get(addr, []) if t >= t0 - 0.05]
        if not ups:
            missing += 1
            continue
        tu = ups[0]
        bas = [t for t in bndack.get(addr, []) if t >= tu]
        if not bas:
            missing += 1
            continue
        ack_d.append(bas[0] - t0)
        upd_d.append(bas[0] - tu)
    return ack_d, upd_d, missing, len(acks), foreign


def exchanges(pcap, client_ip=None):
    """From the client's capture: per xid, DISCOVER time and ACK time."""
    disc, ack = {}, {}
    for t, src, dst, proto, sp, dp, seq, pay in read_pcap(pcap):
        if proto != "udp":
            continue
        m = dhcp_msg(pay)
        if not m:
            continue
        op, xid, _yi, mt = m
        if op == 1 and mt == 1:
            disc.setdefault(xid, t)
        elif op == 2 and mt == 5:
            ack.setdefault(xid, t)
    return disc, ack


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


# ---------------------------------------------------------------- perfdhcp

def perfdhcp(lab, rate, period, base, timeout_extra=20):
    """One bounded perfdhcp run from the client namespace, no relay: the
    DISCOVERs are broadcast on the LAN. Every client MAC starts at `base`."""
    argv = ["timeout", "-k", "2", str(period + timeout_extra), *in_ns(
        lab.c, "perfdhcp", "-4", "-g", "single", "-l", lab.if_c, "-r", str(rate), "-R", "60000",
        "-b", f"mac={base}", "-p", str(period), "-W", "1000000", "-x", "l")]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started.append(p)
    out, err = p.communicate(timeout=period + timeout_extra + 10)
    if p.returncode not in (0, 3):
        raise SystemExit(f"perfdhcp failed ({p.returncode}): {out[-2000:]}{err[-2000:]}")
    stages = re.split(r"\*\*\*Statistics for: ", out)

    def counters(name):
        s = next(x for x in stages if x.startswith(name))
        return (int(re.search(r"sent packets: (\d+)", s).group(1)),
                int(re.search(r"received packets: (\d+)", s).group(1)))
    ds, dr = counters("DISCOVER-OFFER")
    rs, rr = counters("REQUEST-ACK")
    return {"discovers": ds, "offers": dr, "requests": rs, "acks": rr, "out": out}


_base = [0]


def next_base():
    """A MAC prefix no earlier run used: every run's clients are new."""
    _base[0] += 1
    return f"02:{_base[0]:02x}:00:00:00:00"


# ---------------------------------------------------------------- phases

def ladder_step(pair, rate, period, work):
    lab = pair.lab
    tag = f"{pair.kind}-{rate}"
    caps = [Capture(n.ns, n.iface, os.path.join(work, f"{tag}-{n.role}.pcap"), "udp port 67 or udp port 68 or tcp port 647")
            for n in pair.nodes()]
    la = loadavg()
    cpu0, t0 = [n.cpu() for n in pair.nodes()], time.time()
    r = perfdhcp(lab, rate, period, next_base())
    # Drain: until neither capture grows for 2 s (bounded).
    deadline, last, still = time.time() + DRAIN_MAX, None, time.time()
    while time.time() < deadline:
        s = tuple(c.size() for c in caps)
        if s != last:
            last, still = s, time.time()
        elif time.time() - still > 2:
            break
        time.sleep(0.2)
    wall = time.time() - t0
    cpu = [n.cpu() - c for n, c in zip(pair.nodes(), cpu0)]
    drops = [c.stop() for c in caps]
    ack_d, upd_d, missing, acked, foreign = [], [], 0, 0, 0
    for n, c in zip(pair.nodes(), caps):
        a, u, m, k, fo = failover_delays(c.path, n.ip)
        foreign += fo
        ack_d += a
        upd_d += u
        missing += m
        acked += k
        if not KEEP:
            os.remove(c.path)
    r.update(kind=pair.kind, rate=rate, period=period, leases_s=r["acks"] / period,
             drops=1 - r["acks"] / max(r["discovers"], 1), ack_d=ack_d, upd_d=upd_d, no_bndack=missing,
             acked_wire=acked, foreign=foreign, cap_drops=drops, load=la, cpu=cpu, wall=wall)
    log(f"  {pair.kind:6} @{rate:5}/s  {r['leases_s']:7.0f} leases/s  drops {r['drops'] * 100:5.2f}%  "
        f"ACK->BNDACK ms median {pct(ack_d, .5) * 1e3:7.1f} p90 {pct(ack_d, .9) * 1e3:7.1f} max {max(ack_d or [float('nan')]) * 1e3:7.1f}  "
        f"BNDUPD->BNDACK median {pct(upd_d, .5) * 1e3:6.1f} ms  no BNDACK {missing}/{acked}  ACKs of the partner's leases {foreign}  "
        f"tcpdump drops {drops}  CPU-s primary {cpu[0]:.2f} secondary {cpu[1]:.2f} in {wall:.1f} s  load {la}")
    # Between steps: the pair must not carry a backlog into the next one.
    pair.wait_balanced(60)
    return r


def outage_run(pair, rate, period, kill_at, victim, work):
    lab = pair.lab
    tag = f"{pair.kind}-outage-{victim.role if victim else 'none'}"
    cap = Capture(lab.c, lab.if_c, os.path.join(work, tag + ".pcap"), "udp port 67 or udp port 68")
    la = loadavg()
    box = {}

    def load():
        box["r"] = perfdhcp(lab, rate, period, next_base())
    import threading
    th = threading.Thread(target=load)
    t_start = time.time()
    th.start()
    t_kill = None
    other = (pair.s if victim is pair.p else pair.p) if victim else None
    mark = len(other.text()) if other else 0
    if victim:
        time.sleep(kill_at)
        t_kill = time.time()
        victim.kill9()
    th.join(period + 60)
    time.sleep(1)
    cap.stop()
    r = box["r"]
    disc, ack = exchanges(cap.path)
    lat = {x: ack[x] - disc[x] for x in disc if x in ack}
    failed = sorted(disc[x] for x in disc if x not in ack)
    delayed = [v for v in lat.values() if v > DELAYED]
    # The client-visible window: first to last failed or delayed DISCOVER.
    bad = failed + [disc[x] for x, v in lat.items() if v > DELAYED]
    window = (min(bad) - (t_kill or t_start), max(bad) - (t_kill or t_start)) if bad else None
    survivor_lines = []
    if victim:
        survivor_lines = [l for l in other.text()[mark:].splitlines()
                          if "disconnected" in l or "I move from" in l or "peer moves" in l][:4]
    r.update(kind=pair.kind, victim=victim.role if victim else None, failed=len(failed), delayed=len(delayed),
             exchanges=len(disc), lat=list(lat.values()), window=window, load=la, survivor=survivor_lines)
    lv = list(lat.values())
    log(f"  {pair.kind:6} kill {r['victim'] or 'none':9}  {len(disc)} DISCOVERs on the wire, perfdhcp {r['acks']}/{r['discovers']} ACKed; "
        f"failed {len(failed)}  delayed(>{DELAYED:.0f}s) {len(delayed)}  DORA ms median {pct(lv, .5) * 1e3:.1f} "
        f"p99 {pct(lv, .99) * 1e3:.1f} max {max(lv or [float('nan')]) * 1e3:.1f}  "
        + (f"bad window {window[0]:+.2f}..{window[1]:+.2f} s from the kill  " if window else "")
        + f"load {la}")
    for l in survivor_lines:
        log(f"      survivor: {l.strip()[:160]}")
    if not KEEP:
        os.remove(cap.path)
    return r


# ---------------------------------------------------------------- udhcpc churn

# The clients' script only records the event: udhcpc configures nothing
# itself (the script would), so no address, route or resolv.conf changes,
# not even inside the client namespaces.
UDHCPC_SCRIPT = '#!/bin/sh\necho "$1 $interface $ip" >> "$0.events"\nexit 0\n'
UDHCPC_FAIL = 10         # s: no lease within this counts as failed
_mac = __import__("itertools").count(1)     # next() is atomic under the GIL


def udhcpc_round(ns, iface, script, macs):
    """One new client: a fresh MAC on the namespace's veth, then
    `udhcpc -f -q` (DISCOVERs 1 s apart, each REQUEST sent up to 3 times
    1 s apart, then after 1 s (-A) it starts over; exit on the lease),
    ended by `timeout` after UDHCPC_FAIL s: that is a failed round. No
    `-n`: with it udhcpc exits after its third unanswered REQUEST
    ("leasefail") instead of starting over, which no resident client does.
    (start, seconds, ok)."""
    n = next(_mac)
    mac = f"02:75:{macs:02x}:{n >> 16 & 255:02x}:{n >> 8 & 255:02x}:{n & 255:02x}"
    sh("ip", "-n", ns, "link", "set", "dev", iface, "address", mac)
    t0 = time.time()
    p = subprocess.Popen(["timeout", "-k", "1", str(UDHCPC_FAIL), *in_ns(
        ns, "udhcpc", "-f", "-q", "-i", iface, "-s", script, "-t", str(UDHCPC_FAIL), "-T", "1", "-A", "1")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started.append(p)
    rc = p.wait(UDHCPC_FAIL + 10)
    dt = time.time() - t0
    started.remove(p)
    return t0, dt, rc == 0 and dt <= UDHCPC_FAIL


def udhcpc_run(pair, period, kill_at, victim, gap, work):
    """Every client namespace churns new clients for `period` s (a round
    started before the end runs to its end); `kill -9` of `victim` at
    `kill_at` s. Returns the per-round results."""
    import threading
    lab = pair.lab
    script = os.path.join(work, f"udhcpc-{pair.kind}.sh")
    open(script, "w").write(UDHCPC_SCRIPT)
    os.chmod(script, 0o755)
    open(script + ".events", "w").close()
    macs = {"tandem": 1, "isc": 2}[pair.kind]
    results, errors = [], []
    t_start = time.time()
    until = t_start + period

    def loop(ns, iface):
        try:
            while time.time() < until:
                results.append(udhcpc_round(ns, iface, script, macs))
                time.sleep(gap)
        except BaseException as e:       # noqa: BLE001  (reported below)
            errors.append(repr(e))
    la = loadavg()
    ths = [threading.Thread(target=loop, args=c, daemon=True) for c in lab.ucs]
    for t in ths:
        t.start()
    t_kill = None
    if victim:
        time.sleep(max(0.0, t_start + kill_at - time.time()))
        t_kill = time.time()
        victim.kill9()
    for t in ths:
        t.join(max(1.0, until + UDHCPC_FAIL + 15 - time.time()))
    if errors or any(t.is_alive() for t in ths):
        raise SystemExit(f"udhcpc churn: {errors[:3]} alive {sum(t.is_alive() for t in ths)}")
    events = open(script + ".events").read().split("\n")
    leasefail = sum(1 for e in events if e.startswith("leasefail"))
    bound = sum(1 for e in events if e.startswith("bound"))
    ok = [dt for _t0, dt, good in results if good]
    bad = [t0 - (t_kill or t_start) for t0, _dt, good in results if not good]
    slow = [(t0 - (t_kill or t_start), dt) for t0, dt, good in results if good and dt > 1.0]
    r = dict(kind=pair.kind, victim=victim.role if victim else None, attempted=len(results), completed=len(ok),
             failed=len(bad), gt1=sum(1 for d in ok if d > 1.0), gt3=sum(1 for d in ok if d > 3.0), lat=ok,
             slow=slow, bad=bad, load=la, leasefail=leasefail, bound=bound)
    win = [s for s, _ in slow] + bad
    log(f"  {pair.kind:6} kill {r['victim'] or 'none':9}  {len(lab.ucs)} udhcpc clients for {period} s: "
        f"{r['attempted']} DORAs attempted, {r['completed']} completed, {r['failed']} failed (no lease in {UDHCPC_FAIL} s); "
        f"> 1 s {r['gt1']}, > 3 s {r['gt3']}; DORA ms median {pct(ok, .5) * 1e3:.0f} p99 {pct(ok, .99) * 1e3:.0f} "
        f"max {max(ok or [float('nan')]) * 1e3:.0f}; script events: bound {bound}, leasefail {leasefail}"
        + (f"; slow/failed rounds started {min(win):+.2f} .. {max(win):+.2f} s from the kill" if win and victim else "")
        + f"  load {la}")
    return r


def restart_victim(pr, victim):
    """Starts a killed node again and waits until both nodes are normal and
    the pools are balanced."""
    c = [n.text().count(NORMAL) for n in pr.nodes()]
    tr = time.time()
    victim.start()
    for n, cn in zip(pr.nodes(), c):
        n.wait_count(NORMAL, cn + 1, PAIR_TIMEOUT)
    log(f"      {victim.role} restarted: both normal again after {time.time() - tr:.1f} s")
    pr.wait_balanced(PAIR_TIMEOUT)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default=",".join(map(str, RATES)))
    ap.add_argument("--period", type=int, default=3, help="seconds of load per ladder step")
    ap.add_argument("--churn-rate", type=int, default=100, help="new clients per second during the outage runs")
    ap.add_argument("--churn-period", type=int, default=12)
    ap.add_argument("--kill-at", type=float, default=4.0, help="seconds into the churn run")
    ap.add_argument("--kill-rounds", type=int, default=3, help="kills of each role per pair")
    ap.add_argument("--only", choices=["tandem", "isc"])
    ap.add_argument("--skip-ladder", action="store_true")
    ap.add_argument("--skip-outage", action="store_true")
    ap.add_argument("--pool-blocks", type=int, default=150,
                    help="pool size in /24s from 192.168.1.0 (default 150: 38,400 addresses)")
    ap.add_argument("--udhcpc-clients", type=int, default=0,
                    help="outage with retrying clients: this many udhcpc namespaces (0: not run; 1 to 60)")
    ap.add_argument("--udhcpc-period", type=int, default=15, help="seconds of udhcpc churn per run")
    ap.add_argument("--udhcpc-kill-at", type=float, default=4.0)
    ap.add_argument("--udhcpc-rounds", type=int, default=1, help="kills of each role per pair (udhcpc)")
    ap.add_argument("--udhcpc-gap", type=float, default=0.2, help="pause between one client's rounds (s)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    a = ap.parse_args()
    global KEEP, POOL, POOL_SIZE
    KEEP = a.keep
    if not 1 <= a.pool_blocks <= 250:
        raise SystemExit("--pool-blocks: 1 to 250")
    POOL, POOL_SIZE = ("192.168.1.0", f"192.168.{a.pool_blocks}.255"), a.pool_blocks * 256
    rates = [int(x) for x in a.rates.split(",")]
    if not 0 <= a.udhcpc_clients <= 60:
        raise SystemExit("--udhcpc-clients: 0 to 60")
    if a.udhcpc_clients and not shutil.which("udhcpc"):
        raise SystemExit("udhcpc not found (busybox-udhcpc or busybox)")
    for prog in ("perfdhcp", "dhcpd", "tcpdump", "ip", "ss"):
        if not shutil.which(prog):
            raise SystemExit(f"{prog} not found")
    if not os.access(TANDEM, os.X_OK):
        raise SystemExit(f"no tandem binary at {TANDEM}")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    work = tempfile.mkdtemp(prefix="tandem-failover-bench-", dir="/tmp")
    os.chmod(work, 0o755)
    kinds = [a.only] if a.only else ["tandem", "isc"]
    t0 = time.time()
    ladder = {k: [] for k in kinds}
    outage = {k: [] for k in kinds}
    uout = {k: [] for k in kinds}
    log(f"tandem {TANDEM}; work dir {work}; pool {POOL[0]} - {POOL[1]} ({POOL_SIZE} addresses); "
        f"load average before: {loadavg()}")
    try:
        pairs = {}
        for k in kinds:
            pairs[k] = Pair(k, work, a.udhcpc_clients)
            tn, tb = pairs[k].start()
            log(f"{k} pair: both servers normal after {tn:.1f} s, pool balanced after {tb:.1f} s")
        if not a.skip_ladder:
            log(f"\n1. ladder: perfdhcp -4 -g single -l c -r RATE -R 60000 -b mac=NEW -p {a.period} -W 1000000 (broadcast, no relay)")
            for i, rate in enumerate(rates):
                order = kinds if i % 2 == 0 else list(reversed(kinds))
                for k in order:
                    ladder[k].append(ladder_step(pairs[k], rate, a.period, work))
        if not a.skip_outage:
            log(f"\n2. outage: perfdhcp -r {a.churn_rate} -p {a.churn_period}, kill -9 at {a.kill_at} s")
            for k in kinds:
                pr = pairs[k]
                outage[k].append(outage_run(pr, a.churn_rate, a.churn_period, a.kill_at, None, work))
                for victim in [pr.s, pr.p] * a.kill_rounds:
                    outage[k].append(outage_run(pr, a.churn_rate, a.churn_period, a.kill_at, victim, work))
                    restart_victim(pr, victim)
        if a.udhcpc_clients:
            log(f"\n3. outage, retrying clients: {a.udhcpc_clients} namespaces each looping new-MAC udhcpc -f -q "
                f"-t {UDHCPC_FAIL} -T 1 -A 1 (timeout {UDHCPC_FAIL} s) for {a.udhcpc_period} s, kill -9 at {a.udhcpc_kill_at} s")
            for k in kinds:
                pr = pairs[k]
                uout[k].append(udhcpc_run(pr, a.udhcpc_period, a.udhcpc_kill_at, None, a.udhcpc_gap, work))
                for victim in [pr.s, pr.p] * a.udhcpc_rounds:
                    uout[k].append(udhcpc_run(pr, a.udhcpc_period, a.udhcpc_kill_at, victim, a.udhcpc_gap, work))
                    restart_victim(pr, victim)
        for pr in pairs.values():
            pr.stop()
    finally:
        cleanup()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"logs kept in {work}")

    log(f"\nsummary ({time.time() - t0:.0f} s; load average after: {loadavg()})\n")
    if ladder[kinds[0]]:
        log("| offered/s | " + " | ".join(f"{k} leases/s | {k} drops | {k} ACK→BNDACK median / p90 / max (ms)" for k in kinds) + " |")
        log("|---:|" + "---:|---:|---:|" * len(kinds))
        for i, rate in enumerate(rates):
            cells = []
            for k in kinds:
                r = ladder[k][i]
                d = r["ack_d"]
                cells += [f"{r['leases_s']:,.0f}", f"{r['drops'] * 100:.2f}%",
                          f"{pct(d, .5) * 1e3:.1f} / {pct(d, .9) * 1e3:.1f} / {max(d or [float('nan')]) * 1e3:.1f}"
                          + (f" ({r['no_bndack']} without)" if r["no_bndack"] else "")]
            log(f"| {rate:,} | " + " | ".join(cells) + " |")
    if outage[kinds[0]]:
        log("\n| pair | killed | DISCOVERs | failed | delayed > 1 s | DORA median / p99 / max (ms) | failed/delayed window from the kill |")
        log("|---|---|---:|---:|---:|---:|---|")
        for k in kinds:
            for r in outage[k]:
                lv = r["lat"]
                w = f"{r['window'][0]:+.2f} … {r['window'][1]:+.2f} s" if r["window"] and r["victim"] else ""
                log(f"| {k} | {r['victim'] or 'none'} | {r['exchanges']} | {r['failed']} | {r['delayed']} | "
                    f"{pct(lv, .5) * 1e3:.1f} / {pct(lv, .99) * 1e3:.1f} / {max(lv or [float('nan')]) * 1e3:.1f} | {w} |")
        for k in kinds:
            for role in ("secondary", "primary"):
                rs = [r for r in outage[k] if r["victim"] == role]
                log(f"{k}: kill -9 of the {role}, {len(rs)} runs: {sum(r['failed'] for r in rs)} failed, "
                    f"{sum(r['delayed'] for r in rs)} delayed of {sum(r['exchanges'] for r in rs)} exchanges")
    if uout[kinds[0]]:
        log("\n| pair | killed | DORAs attempted | completed | failed (no lease in 10 s) | > 1 s | > 3 s | DORA median / p99 / max (ms) |")
        log("|---|---|---:|---:|---:|---:|---:|---:|")
        for k in kinds:
            for r in uout[k]:
                lv = r["lat"]
                log(f"| {k} | {r['victim'] or 'none'} | {r['attempted']:,} | {r['completed']:,} | {r['failed']} | {r['gt1']} | {r['gt3']} | "
                    f"{pct(lv, .5) * 1e3:.0f} / {pct(lv, .99) * 1e3:.0f} / {max(lv or [float('nan')]) * 1e3:.0f} |")
        for k in kinds:
            for r in uout[k]:
                if r["slow"] or r["bad"]:
                    log(f"{k} kill {r['victim']}: slow (start from kill s, took s) "
                        + ", ".join(f"{s:+.2f}/{d:.2f}" for s, d in sorted(r['slow'])[:12])
                        + (f"; failed started at {', '.join(f'{b:+.2f}' for b in sorted(r['bad'])[:12])}" if r["bad"] else ""))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        cleanup()
        raise SystemExit("interrupted")
