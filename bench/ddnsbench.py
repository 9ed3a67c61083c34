#!/usr/bin/python3
"""Leases into DNS: names published per second, and the time from the ACK
until DNS answers.

  bench/ddnsbench.py [--rates R,R,...] [--period S] [--keep]

One tandem serves DHCP and DNS with both durable (the lease journal and the
zone journals fsync before the ACK and before NOERROR), and publishes every
lease in its own zones over RFC 2136 (loopback path, TSIG hmac-sha256):
perfdhcp's clients send no host name, so `generated-name = "dhcp-{ip}"`
names them. The topology lives in two network namespaces this script makes
and deletes:

    [tdd-s-PID]  tdd-srv 10.78.0.1/16 ==veth== tdd-cli 10.78.0.2/16  [tdd-c-PID]
      tandem (DHCP + DNS + DDNS)                  perfdhcp (as a relay)

Phases (bounded: well under three minutes):
  1. names per second: at each offered rate, perfdhcp runs full DORA
     exchanges for --period seconds against a fresh tandem; the script
     then waits (at most 60 s) until `tandem status` shows the DDNS queue
     empty. Reported: ACKs per second, names per second (forward and
     reverse records confirmed, from the first ACK to the last "Added
     reverse map" in tandem's log), and a check by zone transfer that every
     ACKed address has its A and PTR record.
  2. ACK to answer: at 20 leases per second (every other lease sampled)
     and at 1000 (every 50th), a thread follows tandem's log and, for each
     sampled "DHCPACK on ADDR", queries the new name's A record (plain UDP,
     every millisecond, the query dig sends) until it is answered; the
     latency is from the ACK's log timestamp to the answer. tandem's own
     log gives the ACK to PTR-confirmed time of every lease.

Every process is ended by its PID; the namespaces are deleted on exit, on
error and on Ctrl-C.
"""
import argparse, ctypes, datetime, os, re, signal, socket, struct, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import started, sh, in_ns, veth_pair, cleanup, on_signal  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TANDEM = os.path.join(ROOT, "target/release/tandem")
NS_SRV, NS_CLI = f"tdd-s-{os.getpid()}", f"tdd-c-{os.getpid()}"
IF_SRV, IF_CLI = "tdd-srv", "tdd-cli"
SRV_IP, CLI_IP, PREFIX = "10.78.0.1", "10.78.0.2", 16
POOL = ("10.78.1.0", "10.78.250.255")
CLIENTS = 60000
LEASE_TIME = 7200
SECRET = "YmVuY2htYXJrLXVwZGF0ZS1rZXktbm90LWEtc2VjcmV0IQ=="

def make_topology():
    veth_pair(NS_SRV, IF_SRV, f"{SRV_IP}/{PREFIX}", NS_CLI, IF_CLI, f"{CLI_IP}/{PREFIX}")


ZONE = """$TTL 3600
@ IN SOA ns1.bench.test. hostmaster.bench.test. 1 3600 600 86400 300
  IN NS ns1.bench.test.
{extra}"""


class Tandem:
    def __init__(self, work, label):
        self.dir = os.path.join(work, label)
        os.makedirs(self.dir)
        d = self.dir
        open(os.path.join(d, "bench.zone"), "w").write(ZONE.format(extra=f"ns1 IN A {SRV_IP}\n"))
        open(os.path.join(d, "rev.zone"), "w").write(ZONE.format(extra=""))
        self.state = os.path.join(d, "state")
        self.log = os.path.join(d, "log")
        conf = os.path.join(d, "tandem.toml")
        open(conf, "w").write(f"""[server]
state-dir = "{self.state}"

[[key]]
name = "ddns"
algorithm = "hmac-sha256"
secret = "{SECRET}"

[dns]
listen = ["{SRV_IP}:53"]
udp-workers = 1

[[zone]]
name = "bench.test"
file = "bench.zone"
allow-update = ["key ddns"]
allow-transfer = ["{SRV_IP}"]

[[zone]]
name = "78.10.in-addr.arpa"
file = "rev.zone"
allow-update = ["key ddns"]
allow-transfer = ["{SRV_IP}"]

[dhcp]
interfaces = ["{IF_SRV}"]
conflict-detection = "none"
default-lease-time = {LEASE_TIME}
max-lease-time = {LEASE_TIME}
min-lease-time = {LEASE_TIME}
[dhcp.options]
domain-name = "bench.test"
[[dhcp.subnet]]
subnet = "10.78.0.0/{PREFIX}"
[[dhcp.subnet.pool]]
range = "{POOL[0]} - {POOL[1]}"

[ddns]
ddns-domainname = "bench.test"
generated-name = "dhcp-{{ip}}"
retry-max = 2

[[ddns.zone]]
name = "bench.test"
primary = "{SRV_IP}"
key = "ddns"

[[ddns.zone]]
name = "78.10.in-addr.arpa"
primary = "{SRV_IP}"
key = "ddns"
""")
        self.argv = in_ns(NS_SRV, TANDEM, "serve", "--config", conf)

    def start(self):
        out = open(self.log, "w")
        self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, TANDEM_LOG="info"))
        started.append(self.proc)
        deadline = time.time() + 30
        while time.time() < deadline:
            if "tandem ready:" in open(self.log, errors="replace").read():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise SystemExit(f"tandem did not start:\n{open(self.log).read()[-3000:]}")

    def status(self):
        return sh(TANDEM, "status", "--socket", os.path.join(self.state, "control.sock"))

    def wait_drained(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(r"ddns: (\d+) names in DNS, (\d+) queued", self.status())
            if m and m.group(2) == "0":
                return int(m.group(1))
            time.sleep(0.2)
        raise SystemExit(f"the DDNS queue did not drain in {timeout} s: {self.status()}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z")


def log_time(line):
    m = TS.match(line)
    if not m:
        return None
    t = datetime.datetime.fromisoformat(m.group(1)[:26]).replace(tzinfo=datetime.timezone.utc)
    return t.timestamp()


def perfdhcp(rate, period):
    argv = ["timeout", "-k", "2", str(period + 15), *in_ns(
        NS_CLI, "perfdhcp", "-4", "-g", "single", "-l", IF_CLI, "-r", str(rate), "-R", str(CLIENTS),
        "-p", str(period), "-W", "500000", "-x", "l", SRV_IP)]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started.append(p)
    out, err = p.communicate(timeout=period + 30)
    if p.returncode not in (0, 3):
        raise SystemExit(f"perfdhcp failed ({p.returncode}): {out[-2000:]}{err[-2000:]}")
    acked = set()
    m = re.search(r"\*\*\*Leases for REQUEST-ACK\*\*\*\n(.*?)(?:\n\n|\Z)", out, re.S)
    if m:
        for line in m.group(1).splitlines()[1:]:
            f = line.split(",")
            if len(f) >= 2 and f[1]:
                acked.add(f[1])
    return acked


def axfr(zone):
    out = sh(*in_ns(NS_SRV, "dig", f"@{SRV_IP}", "+tcp", "+time=5", "axfr", zone,
                    "-y", f"hmac-sha256:ddns:{SECRET}"), check=False)
    return [l.split() for l in out.splitlines() if l and not l.startswith(";")]


def names_per_second(work, rate, period):
    t = Tandem(work, f"rate-{rate}")
    t.start()
    try:
        acked = perfdhcp(rate, period)
        published = t.wait_drained(60)
        lines = open(t.log, errors="replace").read().splitlines()
        acks = [log_time(l) for l in lines if "DHCPACK on" in l]
        revs = [log_time(l) for l in lines if "Added reverse map" in l]
        span = (max(revs) - min(acks)) if acks and revs else float("nan")
        fwd = {r[4] for r in axfr("bench.test") if len(r) >= 5 and r[3] == "A" and r[0].startswith("dhcp-")}
        ptr = {r[0] for r in axfr("78.10.in-addr.arpa") if len(r) >= 5 and r[3] == "PTR"}
        missing_a = len(acked - fwd)
        want_ptr = {".".join(reversed(a.split("."))) + ".in-addr.arpa." for a in acked}
        missing_ptr = len(want_ptr - ptr)
        r = dict(rate=rate, acks=len(acked), acks_s=len(acked) / period, names=published,
                 names_s=published / span if span > 0 else float("nan"),
                 drain=(max(revs) - max(acks)) if acks and revs else float("nan"),
                 missing_a=missing_a, missing_ptr=missing_ptr)
        print(f"  @{rate:5}/s: {r['acks']:6} ACKs ({r['acks_s']:6.0f}/s), {published:6} names in DNS, "
              f"{r['names_s']:6.0f} names/s, queue empty {r['drain']:5.2f} s after the last ACK, "
              f"missing A {missing_a}, missing PTR {missing_ptr}", flush=True)
        return r
    finally:
        t.stop()


def dns_query(name, qid):
    q = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack(">HH", 1, 1)


def answered(resp, qid):
    if len(resp) < 12:
        return False
    rid, flags, _, an = struct.unpack(">HHHH", resp[:8])
    return rid == qid and flags & 0x8000 and flags & 0xF == 0 and an > 0


def latency(work, rate, period, every):
    t = Tandem(work, f"latency-{rate}")
    t.start()
    results = []
    stop = threading.Event()

    def follow():
        # The querier runs in the server's namespace: a helper process there
        # would add its own start-up time, so this thread enters it.
        fd = os.open(f"/run/netns/{NS_SRV}", os.O_RDONLY)
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET, this thread only
            raise OSError(ctypes.get_errno(), "setns")
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(0.001)
        seen = 0
        qid = 1
        with open(t.log, errors="replace") as f:
            while not stop.is_set():
                line = f.readline()
                if not line:
                    time.sleep(0.0005)
                    continue
                m = re.search(r"DHCPACK on (\S+)", line)
                if not m:
                    continue
                seen += 1
                if seen % every:
                    continue  # a sample, so queries never pile up
                ack = log_time(line)
                name = "dhcp-" + m.group(1).replace(".", "-") + ".bench.test"
                deadline = time.time() + 5
                qid = (qid + 1) & 0xFFFF
                while time.time() < deadline:
                    sock.sendto(dns_query(name, qid), (SRV_IP, 53))
                    try:
                        if answered(sock.recv(4096), qid):
                            results.append(time.time() - ack)
                            break
                    except socket.timeout:
                        pass
                    time.sleep(0.001)

    th = threading.Thread(target=follow, daemon=True)
    th.start()
    try:
        perfdhcp(rate, period)
        t.wait_drained(30)
        time.sleep(0.5)
    finally:
        stop.set()
        th.join(10)
        lines = open(t.log, errors="replace").read().splitlines()
        t.stop()
    acks = {}
    server = []
    for l in lines:
        m = re.search(r"DHCPACK on (\S+)", l)
        if m:
            acks[m.group(1)] = log_time(l)
        m = re.search(r"Added reverse map from (\d+)\.(\d+)\.(\d+)\.(\d+)\.in-addr", l)
        if m:
            a = ".".join(reversed(m.groups()))
            if a in acks:
                server.append(log_time(l) - acks[a])
    results.sort()
    server.sort()
    pct = lambda v, p: v[min(len(v) - 1, int(p * len(v)))] * 1000 if v else float("nan")
    print(f"  @{rate}/s: ACK -> A answered: {len(results)} samples, p50 {pct(results, 0.5):.1f} ms, "
          f"p90 {pct(results, 0.9):.1f} ms, p99 {pct(results, 0.99):.1f} ms, max {pct(results, 1.0):.1f} ms", flush=True)
    print(f"  @{rate}/s: ACK -> PTR confirmed (tandem's log): {len(server)} leases, p50 {pct(server, 0.5):.1f} ms, "
          f"p99 {pct(server, 0.99):.1f} ms", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default="250,1000,2000,4000,8000")
    ap.add_argument("--period", type=int, default=8)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    work = tempfile.mkdtemp(prefix="tandem-ddns-bench-", dir=os.path.join(ROOT, "target"))
    t0 = time.time()
    try:
        make_topology()
        print(f"names per second ({args.period} s of DORA at each rate, fresh server each time):", flush=True)
        for rate in [int(r) for r in args.rates.split(",")]:
            names_per_second(work, rate, args.period)
        print("ACK to answer:", flush=True)
        latency(work, 20, 10, 2)
        latency(work, 1000, 8, 50)
    finally:
        cleanup()
        if not args.keep:
            subprocess.run(["rm", "-rf", work])
        else:
            print(f"work directory kept: {work}")
    print(f"done in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
