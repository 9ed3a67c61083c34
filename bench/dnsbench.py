#!/usr/bin/python3
"""Benchmarks tandem against Knot DNS, NSD and BIND on loopback.

  bench/dnsbench.py query   # dnsperf against each server, alternating
  bench/dnsbench.py update  # signed RFC 2136 updates/s, then a loss check

Every server serves the same generated zone on its own 127.0.0.1 port and
runs alone while it is measured. Processes are ended by PID. Loads are
bounded in time (query) or count (update).
"""
import base64, os, re, shutil, signal, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ZONE = "bench.test"
NAMES = 10000
SECRET = base64.b64encode(b"tandem-bench-key-32-bytes-long!!").decode()
KEY = "bench-key"
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    """A loopback port free for both UDP and TCP."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                    return port
                except OSError:
                    continue
    raise SystemExit("no free port")


def write_zone(path):
    lines = ["$TTL 3600", "@ SOA ns1 hostmaster 2026112401 3600 600 86400 300",
             "@ NS ns1", "@ MX 10 mail", "ns1 A 192.0.2.1", "mail A 192.0.2.2"]
    for i in range(NAMES):
        lines.append(f"h{i} A 10.{i // 65536}.{(i // 256) % 256}.{i % 256}")
        if i % 10 == 0:
            lines.append(f"c{i} CNAME h{i}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def write_queries(path, n=50000):
    import random
    rnd = random.Random(42)
    with open(path, "w") as f:
        for _ in range(n):
            r = rnd.random()
            if r < 0.8:
                f.write(f"h{rnd.randrange(NAMES)}.{ZONE} A\n")
            elif r < 0.9:
                f.write(f"c{rnd.randrange(NAMES // 10) * 10}.{ZONE} A\n")
            else:
                f.write(f"nx{rnd.randrange(10**6)}.{ZONE} A\n")


class Server:
    """One server process with its own directory and port."""

    def __init__(self, kind, work, zonefile, updates):
        self.kind, self.port = kind, free_port()
        self.dir = os.path.join(work, f"{kind}-{self.port}")
        os.makedirs(self.dir)
        zf = os.path.join(self.dir, f"{ZONE}.zone")
        shutil.copy(zonefile, zf)
        d, p = self.dir, self.port
        if kind == "tandem":
            conf = os.path.join(d, "tandem.toml")
            upd = f'allow-update = ["key {KEY}"]' if updates else ""
            open(conf, "w").write(
                f'[server]\nstate-dir = "{d}/state"\n[dns]\nlisten = ["127.0.0.1:{p}"]\nudp-workers = 2\n'
                f'[[key]]\nname = "{KEY}"\nalgorithm = "hmac-sha256"\nsecret = "{SECRET}"\n'
                f'[[zone]]\nname = "{ZONE}"\nfile = "{zf}"\nallow-transfer = ["127.0.0.1"]\n{upd}\n')
            self.argv = [os.path.join(ROOT, "target/release/tandem"), "serve", "--config", conf]
            self.ready = "tandem ready"
        elif kind == "knot":
            conf = os.path.join(d, "knot.conf")
            acl = "    acl: [xfr, upd]\n" if updates else "    acl: [xfr]\n"
            open(conf, "w").write(
                f"server:\n    listen: 127.0.0.1@{p}\n    rundir: {d}\n    udp-workers: 2\n    tcp-workers: 1\n    background-workers: 1\n"
                f"key:\n  - id: {KEY}\n    algorithm: hmac-sha256\n    secret: {SECRET}\n"
                f"acl:\n  - id: xfr\n    address: 127.0.0.1\n    action: transfer\n"
                f"  - id: upd\n    key: {KEY}\n    action: update\n"
                f"database:\n    storage: {d}\n"
                f"zone:\n  - domain: {ZONE}\n    file: {zf}\n    zonefile-sync: -1\n    journal-content: changes\n{acl}")
            self.argv = ["knotd", "-c", conf]
            self.ready = "server started"
        elif kind == "nsd":
            conf = os.path.join(d, "nsd.conf")
            open(conf, "w").write(
                f"server:\n    ip-address: 127.0.0.1@{p}\n    server-count: 1\n    zonesdir: \"{d}\"\n"
                f"    pidfile: \"{d}/nsd.pid\"\n    database: \"\"\n    xfrdfile: \"{d}/xfrd.state\"\n"
                f"    zonelistfile: \"{d}/zone.list\"\n    username: \"\"\n    verbosity: 1\n    logfile: \"\"\n"
                f"remote-control:\n    control-enable: no\n"
                f"zone:\n    name: {ZONE}\n    zonefile: {zf}\n")
            self.argv = ["nsd", "-d", "-c", conf]
            self.ready = "nsd started"
        elif kind == "bind":
            conf = os.path.join(d, "named.conf")
            upd = f"allow-update {{ key {KEY}; }};" if updates else ""
            open(conf, "w").write(
                f'key "{KEY}" {{ algorithm hmac-sha256; secret "{SECRET}"; }};\n'
                f'options {{ directory "{d}"; listen-on port {p} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }};\n'
                f'  pid-file none; session-keyfile none; recursion no; dnssec-validation no; notify no; }};\n'
                f'controls {{ }};\n'
                f'zone "{ZONE}" {{ type primary; file "{zf}"; allow-transfer {{ 127.0.0.1; }}; {upd} }};\n')
            self.argv = ["named", "-g", "-n", "2", "-c", conf]
            self.ready = "all zones loaded"
        self.proc = None

    def start(self):
        self.log = open(os.path.join(self.dir, "log"), "w+")
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            self.log.flush()
            with open(self.log.name) as f:
                if self.ready in f.read():
                    break
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.kind} exited: {open(self.log.name).read()}")
            time.sleep(0.05)
        else:
            raise SystemExit(f"{self.kind} not ready: {open(self.log.name).read()}")
        # Knot and NSD log before their sockets answer; wait for an answer.
        for _ in range(100):
            if self.dig(f"h1.{ZONE}") == "10.0.0.1":
                return
            time.sleep(0.05)
        raise SystemExit(f"{self.kind} does not answer h1.{ZONE} correctly")

    def dig(self, name, rtype="A"):
        out = subprocess.run(["dig", "@127.0.0.1", "-p", str(self.port), "+short", "+time=1", "+tries=1", name, rtype],
                             capture_output=True, text=True).stdout.strip()
        return out

    def cpu(self):
        """CPU seconds of the server and its child processes (NSD forks)."""
        total = 0
        pids = [self.proc.pid] + [int(p) for p in subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True).stdout.split()]
        for pid in pids:
            try:
                f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
                total += int(f[11]) + int(f[12])
            except OSError:
                pass
        return total / TICK

    def rss_kb(self):
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return 0

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def query_bench(seconds=10, rounds=2):
    work = tempfile.mkdtemp(prefix="tandem-bench-", dir=os.path.join(ROOT, "target"))
    zonefile, queries = os.path.join(work, "zone"), os.path.join(work, "queries")
    write_zone(zonefile)
    write_queries(queries)
    # NSD is left out until its harness is fixed: under dnsperf it dropped
    # most queries here and its worker's CPU time was not found.
    order = ["tandem", "knot", "bind"]
    results = {k: [] for k in order}
    try:
        for r in range(rounds):
            for kind in (order if r % 2 == 0 else list(reversed(order))):
                s = Server(kind, work, zonefile, updates=False)
                try:
                    s.start()
                    c0 = s.cpu()
                    out = subprocess.run(["dnsperf", "-s", "127.0.0.1", "-p", str(s.port), "-d", queries,
                                          "-l", str(seconds), "-c", "4", "-q", "200"],
                                         capture_output=True, text=True).stdout
                    cpu = s.cpu() - c0
                    qps = float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1))
                    lat = float(re.search(r"Average Latency \(s\):\s+([\d.]+)", out).group(1))
                    lost = re.search(r"Queries lost:\s+(\d+)", out).group(1)
                    results[kind].append((qps, lat, qps * seconds / max(cpu, 1e-9), s.rss_kb(), int(lost)))
                    print(f"round {r + 1} {kind:6} {qps:10.0f} qps  {lat * 1e6:6.0f} us  "
                          f"{qps * seconds / max(cpu, 1e-9):10.0f} q/cpu-s  rss {s.rss_kb()} kB  lost {lost}", flush=True)
                finally:
                    s.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\nserver    qps (mean)   latency   q/CPU-s   peak RSS")
    mean = {}
    for k in order:
        v = results[k]
        m = tuple(sum(x[i] for x in v) / len(v) for i in range(4))
        mean[k] = m
        print(f"{k:8} {m[0]:11.0f} {m[1] * 1e6:7.0f}us {m[2]:10.0f} {m[3]:8.0f}kB")
    t, kn = mean["tandem"], mean["knot"]
    print(f"\ntandem/knot: qps {t[0] / kn[0]:.2f}x, q/CPU-s {t[2] / kn[2]:.2f}x, RSS {t[3] / kn[3]:.2f}x")


def update_bench(total=20000, clients=64):
    """Signed updates over UDP from `clients` concurrent senders (the
    update_load example), then an AXFR to check every acknowledged name."""
    load = os.path.join(ROOT, "target/release/examples/update_load")
    work = tempfile.mkdtemp(prefix="tandem-bench-", dir=os.path.join(ROOT, "target"))
    zonefile = os.path.join(work, "zone")
    write_zone(zonefile)
    summary = {}
    try:
        for kind in ["tandem", "bind", "knot"]:
            s = Server(kind, work, zonefile, updates=True)
            try:
                s.start()
                acked_file = os.path.join(s.dir, "acked")
                c0 = s.cpu()
                out = subprocess.run([load, f"127.0.0.1:{s.port}", f"{ZONE}.", KEY, "hmac-sha256", SECRET,
                                      str(total), str(clients), acked_file],
                                     capture_output=True, text=True, timeout=600).stdout
                cpu = s.cpu() - c0
                m = re.search(r"acked (\d+) failed (\d+) seconds ([\d.]+) rate (\d+)", out)
                acked = [l.strip() for l in open(acked_file) if l.strip()]
                axfr = subprocess.run(["dig", "@127.0.0.1", "-p", str(s.port), ZONE, "AXFR"],
                                      capture_output=True, text=True).stdout
                present = set(re.findall(r"^(u\d+\.bench\.test\.)", axfr, re.M))
                lost = [n for n in acked if n not in present]
                rate = float(m.group(4))
                summary[kind] = rate
                print(f"{kind:6} {m.group(1)} acked, {m.group(2)} failed, {float(m.group(3)):.2f}s, "
                      f"{rate:8.0f} updates/s, server cpu {cpu:.2f}s "
                      f"({cpu / max(len(acked), 1) * 1e6:.0f} us/update), lost after AXFR check: {len(lost)}",
                      flush=True)
                if lost:
                    print(f"  LOST: {lost[:10]}")
            finally:
                s.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\ntandem/bind: {summary['tandem'] / summary['bind']:.1f}x, "
          f"tandem/knot: {summary['tandem'] / summary['knot']:.1f}x")


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "query"
    if what == "query":
        query_bench()
    elif what == "update":
        update_bench()
    else:
        raise SystemExit(__doc__)
