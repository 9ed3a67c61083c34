#!/usr/bin/python3
"""Replication benchmarks: a tandem pair against a BIND 9 pair on loopback.

  bench/replbench.py propagation [N]   # update on the primary -> answer on the secondary
  bench/replbench.py axfr [RECORDS]    # a 100k-record zone: secondary start -> served; dig AXFR
  bench/replbench.py all [N [RECORDS]] # both (the default)

Every server runs on its own 127.0.0.1 port. Processes are started and ended
by PID; every loop is bounded in count and in time; the work directory (under
target/) is removed at the end, on error and on Ctrl-C.
"""
import base64, os, re, shutil, signal, socket, statistics, struct, subprocess, sys, tempfile, time

import dns.message, dns.query, dns.rcode, dns.tsig, dns.tsigkeyring, dns.update

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TANDEM = os.path.join(ROOT, "target/release/tandem")
SECRET = base64.b64encode(b"tandem-bench-key-32-bytes-long!!").decode()
KEY = "bench-key"
KEYRING = dns.tsigkeyring.from_text({KEY: SECRET})

# The secondary is polled every 2 ms (REPLBENCH_POLL_MS to change it).
POLL_EVERY = float(os.environ.get("REPLBENCH_POLL_MS", "2")) / 1000
PROPAGATION_BOUND = 15  # s per update
AXFR_BOUND = 300        # s for a secondary to serve the big zone


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


def write_zone(path, zone, names):
    lines = ["$TTL 3600", "@ SOA ns1 hostmaster 2026120101 3600 600 86400 300",
             "@ NS ns1", "ns1 A 127.0.0.1"]
    for i in range(names):
        lines.append(f"h{i} A 10.{i // 65536}.{(i // 256) % 256}.{i % 256}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


class Proc:
    """One server process: its directory, port, config, log."""

    def __init__(self, kind, role, work, zone, zonefile=None, primary=None, notify=None, port=None):
        self.kind, self.role, self.zone, self.port = kind, role, zone, port or free_port()
        self.dir = os.path.join(work, f"{kind}-{role}-{self.port}")
        os.makedirs(self.dir)
        d, p = self.dir, self.port
        if zonefile:
            zf = os.path.join(d, f"{zone}.zone")
            shutil.copy(zonefile, zf)
        if kind == "tandem":
            conf = os.path.join(d, "tandem.toml")
            z = f'[[zone]]\nname = "{zone}"\n'
            if role == "primary":
                z += f'file = "{zf}"\nallow-update = ["key {KEY}"]\nallow-transfer = ["127.0.0.1"]\n'
                if notify:
                    z += f'also-notify = ["127.0.0.1:{notify}"]\n'
            else:
                z += (f'type = "secondary"\nprimaries = ["127.0.0.1:{primary}"]\n'
                      f'allow-update-forwarding = ["key {KEY}"]\nallow-transfer = ["127.0.0.1"]\n')
            with open(conf, "w") as f:
                f.write(f'[server]\nstate-dir = "{d}/state"\n[dns]\nlisten = ["127.0.0.1:{p}"]\n'
                        f'[[key]]\nname = "{KEY}"\nalgorithm = "hmac-sha256"\nsecret = "{SECRET}"\n{z}')
            self.argv = [TANDEM, "serve", "--config", conf]
            self.ready = "tandem ready"
            self.done = re.compile(r"transferred serial \d+ .*?(\d+) ms")
        else:
            conf = os.path.join(d, "named.conf")
            if role == "primary":
                # As a user writes it: notify yes (BIND's default) plus the
                # secondary in also-notify. The only NS is the SOA's MNAME,
                # which BIND does not notify (notify-to-soa no), so every
                # NOTIFY goes to also-notify, on loopback.
                n = f"notify yes; also-notify {{ 127.0.0.1 port {notify}; }};" if notify else "notify no;"
                z = (f'zone "{zone}" {{ type primary; file "{zf}"; allow-transfer {{ 127.0.0.1; }}; '
                     f'allow-update {{ key {KEY}; }}; {n} }};\n')
            else:
                z = (f'zone "{zone}" {{ type secondary; primaries {{ 127.0.0.1 port {primary}; }}; '
                     f'file "sec.db"; allow-transfer {{ 127.0.0.1; }}; '
                     f'allow-update-forwarding {{ key {KEY}; }}; notify no; }};\n')
            with open(conf, "w") as f:
                f.write(f'key "{KEY}" {{ algorithm hmac-sha256; secret "{SECRET}"; }};\n'
                        f'options {{ directory "{d}"; listen-on port {p} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }};\n'
                        f'  pid-file none; session-keyfile none; recursion no; dnssec-validation no; }};\n'
                        f'controls {{ }};\n{z}')
            self.argv = ["named", "-g", "-c", conf]
            self.ready = "running"
            self.done = re.compile(r"Transfer completed: .*?([\d.]+) secs")
        self.proc = None

    def spawn(self):
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid

    def logtext(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def start(self, check=None, bound=60):
        """Starts and waits for the ready line and, if given, a correct answer."""
        self.spawn()
        deadline = time.monotonic() + bound
        while time.monotonic() < deadline:
            if self.ready in self.logtext():
                break
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.kind} {self.role} exited:\n{self.logtext()}")
            time.sleep(0.02)
        else:
            raise SystemExit(f"{self.kind} {self.role} not ready:\n{self.logtext()}")
        if check:
            name, addr = check
            q = Querier(self.port)
            try:
                while time.monotonic() < deadline:
                    if q.answers(name, addr):
                        return
                    if self.proc.poll() is not None:
                        raise SystemExit(f"{self.kind} {self.role} exited:\n{self.logtext()}")
                    time.sleep(0.02)
            finally:
                q.close()
            raise SystemExit(f"{self.kind} {self.role} does not answer {name} A {addr}:\n{self.logtext()[-3000:]}")

    def status_kb(self, field):
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc:
            self.log.close()


class Querier:
    """A fast UDP A-query loop against one server: raw bytes, no parsing beyond the header."""

    def __init__(self, port):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.connect(("127.0.0.1", port))
        self.s.settimeout(0.05)
        self.id = 0
        self.wire = {}

    def answers(self, name, addr):
        """True if the server answers NOERROR with `name A addr`."""
        self.id = (self.id + 1) & 0xFFFF
        if name not in self.wire:
            self.wire[name] = bytearray(dns.message.make_query(name, "A", use_edns=False).to_wire())
        w = self.wire[name]
        w[0:2] = struct.pack(">H", self.id)
        want = socket.inet_aton(addr)
        try:
            self.s.send(w)
            for _ in range(4):  # skip late answers to earlier polls
                r = self.s.recv(4096)
                if len(r) >= 12 and r[0:2] == w[0:2]:
                    an = struct.unpack(">H", r[6:8])[0]
                    # NOERROR, one answer or more, and the address's 4 bytes
                    # as the last RDATA (one A record: the answer ends with it).
                    return (r[3] & 0x0F) == 0 and an >= 1 and r.endswith(want)
        except (socket.timeout, ConnectionRefusedError):
            return False
        return False

    def close(self):
        self.s.close()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(p / 100 * len(xs) + 0.5)) - 1))]


def propagation(work, kind, n):
    """n signed updates to the primary, one at a time; for each, the time
    from its NOERROR to the first answer of the new record by the secondary."""
    zone = "repl.test"
    zf = os.path.join(work, "repl.zone")
    write_zone(zf, zone, 10)
    sec_port = free_port()
    prim = Proc(kind, "primary", work, zone, zonefile=zf, notify=sec_port)
    sec = Proc(kind, "secondary", work, zone, primary=prim.port, port=sec_port)
    lat, missed = [], 0
    q = Querier(sec_port)
    try:
        prim.start(check=(f"h1.{zone}", "10.0.0.1"))
        sec.start(check=(f"h1.{zone}", "10.0.0.1"))
        # Let a start-up NOTIFY from the primary (BIND sends one) settle.
        time.sleep(1 if kind == "tandem" else 6)
        for i in range(n):
            name, addr = f"u{i}.{zone}", f"10.200.{i // 256}.{i % 256}"
            u = dns.update.UpdateMessage(zone, keyring=KEYRING, keyname=KEY, keyalgorithm=dns.tsig.HMAC_SHA256)
            u.add(f"u{i}", 300, "A", addr)
            r = dns.query.tcp(u, "127.0.0.1", port=prim.port, timeout=10)
            answered = time.monotonic()
            if r.rcode() != dns.rcode.NOERROR:
                raise SystemExit(f"{kind} primary answered {dns.rcode.to_text(r.rcode())} to update {i}")
            deadline = answered + PROPAGATION_BOUND
            seen = None
            while time.monotonic() < deadline:
                if q.answers(name, addr):
                    seen = time.monotonic()
                    break
                time.sleep(POLL_EVERY)
            if seen is None:
                missed += 1
                print(f"  {kind} update {i}: not on the secondary after {PROPAGATION_BOUND} s", flush=True)
            else:
                lat.append(seen - answered)
            if (i + 1) % 10 == 0:
                print(f"  {kind}: {i + 1}/{n} updates, last {lat[-1] * 1000 if lat else float('nan'):.1f} ms", flush=True)
        # A last check of the data: the secondary's serial equals the primary's.
        soa = [dns.query.udp(dns.message.make_query(zone, "SOA"), "127.0.0.1", port=p, timeout=2).answer[0][0].serial
               for p in (prim.port, sec_port)]
        notifies = len(re.findall(r"sending notif", prim.logtext()))
        return {"lat": lat, "missed": missed, "serials": soa, "notifies": notifies,
                "sec_log": sec.logtext(), "prim_log": prim.logtext()}
    finally:
        q.close()
        sec.stop()
        prim.stop()


def dig_axfr(port, zone):
    t0 = time.monotonic()
    out = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+time=30", "+tries=1", zone, "AXFR"],
                         capture_output=True, text=True, timeout=300).stdout
    wall = time.monotonic() - t0
    m = re.search(r"XFR size: (\d+) records \(messages (\d+), bytes (\d+)\)", out)
    if not m:
        raise SystemExit(f"dig AXFR from port {port} failed:\n{out[-2000:]}")
    return wall, int(m.group(1)), int(m.group(2)), int(m.group(3))


def axfr(work, kind, records):
    zone = "big.test"
    zf = os.path.join(work, "big.zone")
    if not os.path.exists(zf):
        write_zone(zf, zone, records)
    last = (f"h{records - 1}.{zone}", f"10.{(records - 1) // 65536}.{((records - 1) // 256) % 256}.{(records - 1) % 256}")
    prim = Proc(kind, "primary", work, zone, zonefile=zf)
    sec = Proc(kind, "secondary", work, zone, primary=prim.port)
    q = Querier(sec.port)
    try:
        t0 = time.monotonic()
        prim.start(check=last, bound=AXFR_BOUND)
        load = time.monotonic() - t0
        prim_rss0 = prim.status_kb("VmRSS")
        out = [dig_axfr(prim.port, zone) for _ in range(2)]
        t0 = time.monotonic()
        sec.spawn()
        deadline = t0 + AXFR_BOUND
        served = logged = logged_dur = None
        peak_sampled = 0
        while time.monotonic() < deadline and served is None:
            peak_sampled = max(peak_sampled, sec.status_kb("VmRSS"))
            if logged is None:
                m = sec.done.search(sec.logtext())
                if m:
                    logged, logged_dur = time.monotonic() - t0, float(m.group(1))
            if q.answers(*last):
                served = time.monotonic() - t0
            elif sec.proc.poll() is not None:
                raise SystemExit(f"{kind} secondary exited:\n{sec.logtext()[-3000:]}")
            else:
                time.sleep(POLL_EVERY)
        if served is None:
            raise SystemExit(f"{kind} secondary did not answer {last[0]} within {AXFR_BOUND} s:\n{sec.logtext()[-3000:]}")
        for _ in range(500):  # the log line may trail the answer a little
            m = sec.done.search(sec.logtext())
            if m:
                if logged is None:
                    logged, logged_dur = time.monotonic() - t0, float(m.group(1))
                break
            time.sleep(0.01)
        hwm = sec.status_kb("VmHWM")
        # The secondary's copy, transferred out again, must hold every record.
        time.sleep(0.5)
        copy = dig_axfr(sec.port, zone)
        if kind == "tandem":
            logged_dur = logged_dur / 1000 if logged_dur is not None else None
        return {"load": load, "prim_rss": prim_rss0, "prim_hwm": prim.status_kb("VmHWM"),
                "dig": out, "served": served, "logged": logged, "logged_dur": logged_dur,
                "sec_hwm": hwm, "sec_peak_sampled": peak_sampled, "copy": copy,
                "line": (sec.done.search(sec.logtext()) or [None])[0]}
    finally:
        q.close()
        sec.stop()
        prim.stop()


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    records = int(sys.argv[3]) if len(sys.argv) > 3 else 100000
    if what == "axfr" and len(sys.argv) > 2:
        records, n = int(sys.argv[2]), n
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    os.makedirs(os.path.join(ROOT, "target"), exist_ok=True)
    work = tempfile.mkdtemp(prefix="tandem-repl-", dir=os.path.join(ROOT, "target"))
    print(f"nproc {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}, "
          f"tandem {subprocess.run(['git', '-C', ROOT, 'log', '-1', '--format=%h %s'], capture_output=True, text=True).stdout.strip()[:70]}",
          flush=True)
    try:
        if what in ("all", "propagation"):
            res = {}
            for kind in ("tandem", "bind"):
                print(f"propagation: {kind} pair, {n} updates", flush=True)
                res[kind] = propagation(work, kind, n)
            print("\npropagation: primary's NOERROR -> the secondary answers the new record")
            print("pair     answered  median     p90       max       primary/secondary serial  notify lines")
            for kind, r in res.items():
                lat = r["lat"]
                if lat:
                    print(f"{kind:8} {len(lat):3}/{n:<4} {statistics.median(lat) * 1000:8.1f} ms {pct(lat, 90) * 1000:8.1f} ms "
                          f"{max(lat) * 1000:8.1f} ms  {r['serials'][0]}/{r['serials'][1]}  {r['notifies']}")
                else:
                    print(f"{kind:8} 0/{n}: nothing propagated")
            if res["tandem"]["lat"] and res["bind"]["lat"]:
                t, b = res["tandem"]["lat"], res["bind"]["lat"]
                print(f"BIND / tandem: median {statistics.median(b) / statistics.median(t):.1f}x, "
                      f"p90 {pct(b, 90) / pct(t, 90):.1f}x, max {max(b) / max(t):.1f}x")
                print(f"target (< 100 ms): tandem median {'met' if statistics.median(t) < 0.1 else 'NOT met'}, "
                      f"max {'met' if max(t) < 0.1 else 'NOT met'}")
            print(flush=True)
        if what in ("all", "axfr"):
            res = {}
            for kind in ("tandem", "bind"):
                print(f"axfr: {kind}, {records} A records", flush=True)
                res[kind] = axfr(work, kind, records)
                r = res[kind]
                print(f"  {r}".replace(", 'dig'", "\n  'dig'")[:600], flush=True)
            print(f"\naxfr: zone of {records} A records + SOA, NS, ns1 A")
            print("kind     primary load  dig AXFR (2 runs)            bytes     msgs  secondary start->answer  log says  in-log  sec VmHWM  primary VmRSS->VmHWM  copy records")
            for kind, r in res.items():
                d = r["dig"]
                print(f"{kind:8} {r['load']:8.2f} s  {d[0][0]:6.3f} s / {d[1][0]:6.3f} s  {d[0][3]:10}  {d[0][2]:5}  "
                      f"{r['served']:10.3f} s  {r['logged'] if r['logged'] is not None else float('nan'):8.3f} s  "
                      f"{r['logged_dur'] if r['logged_dur'] is not None else float('nan'):6.3f} s  "
                      f"{r['sec_hwm'] / 1024:7.1f} MB  {r['prim_rss'] / 1024:6.1f}->{r['prim_hwm'] / 1024:6.1f} MB  "
                  f"{r['copy'][1]} (primary {d[0][1]})")
            t, b = res["tandem"], res["bind"]
            print(f"BIND / tandem: secondary start->answer {b['served'] / t['served']:.2f}x, "
                  f"dig AXFR {min(x[0] for x in b['dig']) / min(x[0] for x in t['dig']):.2f}x (best of 2), "
                  f"secondary peak RSS tandem/BIND {t['sec_hwm'] / b['sec_hwm']:.2f}x")
            for kind, r in res.items():
                print(f"{kind} secondary log: {r['line']}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
