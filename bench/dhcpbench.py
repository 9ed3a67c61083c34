#!/usr/bin/python3
"""DHCPv4 leases per second: tandem vs Kea (memfile) vs ISC dhcpd.

  bench/dhcpbench.py [--period S] [--rates R,R,...] [--repeat N] [--keep]
                     [--also-tandem PATH]  # a second tandem build ("tandem-b") in every turn
  bench/dhcpbench.py --profile RATE   # tandem alone under perf record

perfdhcp runs full DORA exchanges (DISCOVER, OFFER, REQUEST, ACK), every
one from a new client, against one server at a time. The topology is the
same for every server and lives entirely in two network namespaces that
this script makes and deletes:

    [tdhb-s-PID]  tdhb-srv 10.77.0.1/16 ==veth== tdhb-cli 10.77.0.2/16  [tdhb-c-PID]
       server                                       perfdhcp (a relay to the
                                                    server: giaddr 10.77.0.2)

Nothing is added to the root namespace; neither namespace has a route
beyond 10.77.0.0/16.

Phases:
  1. sweep: a ladder of offered rates shared by all servers. At each rate
     the servers take turns (the order rotates from step to step), each
     started fresh with an empty lease store. A step passes when at least
     98% of the DISCOVERs sent end in an ACK; a failed step is tried once
     more (the machine is shared). A server leaves the sweep after two
     failed steps in a row; its sustained rate is the highest it passed.
  2. head-to-head: the rates the targets name, tried --repeat times each
     in alternation: tandem and Kea at Kea's sustained rate, tandem at ten
     times ISC's.
  3. fsync check: each server at 500/s for 3 s under
     `strace -f -c -e trace=fsync,fdatasync`: syncs per ACKed lease.
  4. the same count without strace's slowdown (perf's syscall
     tracepoints), each server at its own sustained rate.

After every tandem run, while it still runs, `tandem leases --json` must
list every address perfdhcp saw ACKed as an active lease. Kea's CSV and
ISC's lease file are checked the same way after the server stops.

Every process is ended by its PID; the namespaces are deleted on exit,
on error and on Ctrl-C.
"""
import argparse, json, os, re, shutil, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import started, sh, in_ns, veth_pair, cleanup, on_signal  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TANDEM = os.path.join(ROOT, "target/release/tandem")
TICK = os.sysconf("SC_CLK_TCK")
NS_SRV, NS_CLI = f"tdhb-s-{os.getpid()}", f"tdhb-c-{os.getpid()}"
IF_SRV, IF_CLI = "tdhb-srv", "tdhb-cli"
SRV_IP, CLI_IP, PREFIX = "10.77.0.1", "10.77.0.2", 16
POOL = ("10.77.1.0", "10.77.250.255")       # 64,000 addresses
CLIENTS = 60000                              # perfdhcp -R: distinct MACs, < pool
LEASE_TIME = 7200
PASS = 0.98                                  # ACKs / DISCOVERs for a step to pass
SERVERS = ["tandem", "kea", "isc"]
# --also-tandem: another tandem binary, run as server "tandem-b" beside the
# others in every turn, so two builds meet the same load on a shared machine.
BINARY = {"tandem": TANDEM}
# perfdhcp -W: after the last DISCOVER, wait this long (µs) for answers
# still in flight instead of counting them as drops.
WAIT_US = 500000
RATES = [500, 700, 1000, 1400, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000,
         10000, 11000, 12000, 13000, 14000, 16000, 18000, 19000]



def make_topology():
    veth_pair(NS_SRV, IF_SRV, f"{SRV_IP}/{PREFIX}", NS_CLI, IF_CLI, f"{CLI_IP}/{PREFIX}")


def cpu_ticks():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    idle = f[3] + f[4]
    return sum(f[:8]) - idle, sum(f[:8])


def udp_rcvbuf_errors(ns):
    """RcvbufErrors of the namespace's UDP stack (datagrams dropped because
    a socket's receive buffer was full)."""
    lines = [l.split() for l in sh(*in_ns(ns, "cat", "/proc/net/snmp")).splitlines() if l.startswith("Udp:")]
    return int(lines[1][lines[0].index("RcvbufErrors")])


class Server:
    def __init__(self, kind, work, label, strace=False):
        self.kind = kind
        self.dir = os.path.join(work, f"{label}-{kind}")
        os.makedirs(self.dir)
        d = self.dir
        self.log = os.path.join(d, "log")
        self.ready_file, env = self.log, None
        self.bin = BINARY.get(kind)
        if kind.startswith("tandem"):
            conf = os.path.join(d, "tandem.toml")
            self.state = os.path.join(d, "state")
            open(conf, "w").write(
                f'[server]\nstate-dir = "{self.state}"\n[dns]\nlisten = []\n'
                f'[dhcp]\ninterfaces = ["{IF_SRV}"]\nconflict-detection = "none"\n'
                f'default-lease-time = {LEASE_TIME}\nmax-lease-time = {LEASE_TIME}\nmin-lease-time = {LEASE_TIME}\n'
                f'[[dhcp.subnet]]\nsubnet = "10.77.0.0/{PREFIX}"\n'
                f'[[dhcp.subnet.pool]]\nrange = "{POOL[0]} - {POOL[1]}"\n')
            argv = [self.bin, "serve", "--config", conf]
            self.ready = "tandem ready:"
        elif kind == "kea":
            conf = os.path.join(d, "kea-dhcp4.json")
            self.leasefile = os.path.join(d, "leases4.csv")
            self.ready_file = os.path.join(d, "kea.log")
            json.dump({"Dhcp4": {
                # perfdhcp's traffic is relayed (giaddr set), for which Kea
                # recommends UDP sockets over raw ones.
                "interfaces-config": {"interfaces": [IF_SRV], "dhcp-socket-type": "udp"},
                # persist is memfile's default: every lease change is
                # appended to the CSV file (written, never fsynced).
                "lease-database": {"type": "memfile", "persist": True, "name": self.leasefile, "lfc-interval": 0},
                "valid-lifetime": LEASE_TIME, "min-valid-lifetime": LEASE_TIME, "max-valid-lifetime": LEASE_TIME,
                "renew-timer": LEASE_TIME // 2, "rebind-timer": LEASE_TIME * 7 // 8,
                "subnet4": [{"id": 1, "subnet": f"10.77.0.0/{PREFIX}",
                             "pools": [{"pool": f"{POOL[0]} - {POOL[1]}"}]}],
                "loggers": [{"name": "kea-dhcp4", "severity": "INFO",
                             "output_options": [{"output": self.ready_file}]}],
            }}, open(conf, "w"), indent=1)
            argv = ["kea-dhcp4", "-c", conf]
            env = dict(os.environ, KEA_PIDFILE_DIR=d, KEA_LOCKFILE_DIR=d)
            self.ready = "DHCP4_STARTED"
        elif kind == "isc":
            conf = os.path.join(d, "dhcpd.conf")
            self.leasefile = os.path.join(d, "dhcpd.leases")
            open(self.leasefile, "w").close()
            open(conf, "w").write(
                "authoritative;\nping-check false;\n"
                f"default-lease-time {LEASE_TIME};\nmax-lease-time {LEASE_TIME};\nmin-lease-time {LEASE_TIME};\n"
                f"subnet 10.77.0.0 netmask 255.255.0.0 {{\n  range {POOL[0]} {POOL[1]};\n}}\n")
            argv = ["dhcpd", "-f", "-d", "-4", "-cf", conf, "-lf", self.leasefile,
                    "-pf", os.path.join(d, "dhcpd.pid"), IF_SRV]
            self.ready = "Server starting service"
        self.strace_out = None
        if strace:
            self.strace_out = os.path.join(d, "strace")
            argv = ["strace", "-f", "--seccomp-bpf", "-c", "-e", "trace=fsync,fdatasync", "-o", self.strace_out, "--", *argv]
        self.argv, self.env, self.proc = in_ns(NS_SRV, *argv), env, None

    def start(self):
        out = open(self.log, "w")
        self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, env=self.env)
        started.append(self.proc)
        deadline = time.time() + 30
        while time.time() < deadline:
            if os.path.exists(self.ready_file) and self.ready in open(self.ready_file, errors="replace").read():
                # `ip netns exec` execs the server, so our child is the
                # server itself (or strace, whose child it then is).
                self.pid = self.proc.pid
                if self.strace_out:
                    kids = open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read().split()
                    self.pid = int(kids[0])
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise SystemExit(f"{self.kind} did not start:\n{open(self.log).read()[-3000:]}")

    def cpu(self):
        f = open(f"/proc/{self.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / TICK

    def leases(self):
        """Active leases the server holds: address -> MAC."""
        out = {}
        if self.kind.startswith("tandem"):
            sock = os.path.join(self.state, "control.sock")
            for l in json.loads(sh(self.bin, "leases", "--json", "--socket", sock)):
                if l["state"] == "active":
                    out[l["address"]] = l["hardware_address"]
        elif self.kind == "kea":
            # One line per change; the last line for an address wins.
            for line in open(self.leasefile):
                f = line.rstrip("\n").split(",")
                if f[0] == "address" or len(f) < 10:
                    continue
                if f[9] == "0" and int(f[3]) > 0:
                    out[f[0]] = f[1]
                else:
                    out.pop(f[0], None)
        elif self.kind == "isc":
            text = open(self.leasefile).read()
            for addr, body in re.findall(r"^lease (\S+) \{(.*?)^\}", text, re.S | re.M):
                m = re.search(r"hardware ethernet (\S+);", body)
                if re.search(r"^\s*binding state active;", body, re.M) and m:
                    out[addr] = m.group(1)
                else:
                    out.pop(addr, None)
        return out

    def stop(self):
        if self.proc and self.proc.poll() is None:
            if self.strace_out:
                os.kill(self.pid, signal.SIGTERM)  # the traced server; strace follows it out
            else:
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# perfdhcp -g. Its default on 2 CPUs is "multi" (a separate receiving
# thread); on 2 cores shared with the server that third busy thread cost
# every server more drops than it saved, so the sweep uses "single".
GEN_MODE = "single"


def perfdhcp(rate, period):
    """One bounded perfdhcp run; returns its counters."""
    argv = ["timeout", "-k", "2", str(period + 15), *in_ns(
        NS_CLI, "perfdhcp", "-4", *(["-g", GEN_MODE] if GEN_MODE else []), "-l", IF_CLI, "-r", str(rate), "-R", str(CLIENTS),
        "-p", str(period), "-W", str(WAIT_US), "-x", "l", SRV_IP)]
    t0 = os.times()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started.append(p)  # on Ctrl-C, cleanup's SIGTERM reaches timeout, which passes it on
    out, err = p.communicate(timeout=period + 30)
    t1 = os.times()
    if p.returncode not in (0, 3):  # 3: some exchanges did not complete
        raise SystemExit(f"perfdhcp failed ({p.returncode}): {out[-2000:]}{err[-2000:]}")
    stages = re.split(r"\*\*\*Statistics for: ", out)
    def counters(name):
        s = next(x for x in stages if x.startswith(name))
        return (int(re.search(r"sent packets: (\d+)", s).group(1)),
                int(re.search(r"received packets: (\d+)", s).group(1)))
    do_sent, do_recv = counters("DISCOVER-OFFER")
    ra_sent, ra_recv = counters("REQUEST-ACK")
    acked = set()
    m = re.search(r"\*\*\*Leases for REQUEST-ACK\*\*\*\n(.*?)(?:\n\n|\Z)", out, re.S)
    if m:
        for line in m.group(1).splitlines()[1:]:
            f = line.split(",")
            if len(f) >= 2 and f[1]:
                acked.add(f[1])
    return {"discovers": do_sent, "offers": do_recv, "requests": ra_sent, "acks": ra_recv,
            "acked": acked, "gen_cpu": (t1.children_user + t1.children_system) - (t0.children_user + t0.children_system)}


SYNC_EVENTS = "syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync"


def run_one(kind, rate, period, work, label, count_syncs=False):
    s = Server(kind, work, label)
    try:
        s.start()
        counter = None
        if count_syncs:
            # Kernel tracepoints counted in place: unlike strace, this does
            # not slow the server down.
            stat_out = os.path.join(s.dir, "perf-stat")
            counter = subprocess.Popen(["perf", "stat", "-x", ",", "-e", SYNC_EVENTS, "-o", stat_out,
                                        "-p", str(s.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            started.append(counter)
            time.sleep(0.3)
        c0, sd0, cd0 = s.cpu(), udp_rcvbuf_errors(NS_SRV), udp_rcvbuf_errors(NS_CLI)
        m0 = cpu_ticks()
        r = perfdhcp(rate, period)
        m1 = cpu_ticks()
        if counter:
            counter.send_signal(signal.SIGINT)
            counter.wait(10)
            r["syncs"] = sum(int(l.split(",")[0]) for l in open(stat_out)
                             if "sys_enter_f" in l and l.split(",")[0].isdigit())
        r["cpu"] = s.cpu() - c0
        # The whole machine over the run (load period plus perfdhcp's -W
        # wait): what server, generator, kernel and anything else running
        # here used of the cores.
        r["busy"] = os.cpu_count() * (m1[0] - m0[0]) / max(m1[1] - m0[1], 1)
        r["srv_bufdrop"] = udp_rcvbuf_errors(NS_SRV) - sd0
        r["cli_bufdrop"] = udp_rcvbuf_errors(NS_CLI) - cd0
        if kind.startswith("tandem"):
            r["store"] = s.leases()      # while it still runs
    finally:
        s.stop()
    if not kind.startswith("tandem"):
        r["store"] = s.leases()          # the lease file, complete after stop
    r.update(kind=kind, rate=rate, period=period)
    r["leases_s"] = r["acks"] / period
    r["drops"] = 1 - r["acks"] / max(r["discovers"], 1)
    r["ok"] = r["acks"] >= PASS * r["discovers"] and r["discovers"] >= 0.95 * rate * period
    r["missing"] = len(r["acked"] - set(r["store"]))   # ACKed but not in the store
    r["extra"] = len(set(r["store"]) - r["acked"])     # stored but ACK not seen
    print(f"  {kind:6} @{rate:6}/s  {r['leases_s']:8.0f} leases/s  drops {r['drops'] * 100:5.2f}%  "
          f"cpu {r['cpu']:5.2f}s  gen-cpu {r['gen_cpu']:5.2f}s  busy {r['busy']:.2f}  bufdrops srv {r['srv_bufdrop']:5} cli {r['cli_bufdrop']:5}  "
          f"store {len(r['store']):6} (ACKed-missing {r['missing']}, extra {r['extra']})  {'pass' if r['ok'] else 'FAIL'}",
          flush=True)
    return r


def strace_check(kind, rate, period, work):
    s = Server(kind, work, f"strace{rate}", strace=True)
    try:
        s.start()
        r = perfdhcp(rate, period)
    finally:
        s.stop()
    calls = {"fsync": 0, "fdatasync": 0}
    for line in open(s.strace_out):
        f = line.split()
        if f and f[-1] in calls:
            calls[f[-1]] = int(f[3])
    syncs = calls["fsync"] + calls["fdatasync"]
    print(f"  {kind:6} @{rate:6}/s for {period}s under strace: {r['acks']} ACKs, fsync {calls['fsync']}, "
          f"fdatasync {calls['fdatasync']}  ({syncs / max(r['acks'], 1):.2f} syncs per ACKed lease)", flush=True)
    return {"acks": r["acks"], **calls, "per_lease": syncs / max(r["acks"], 1)}


def profile(rate, period, work):
    """tandem alone at `rate` under `perf record` (call graphs); prints
    where its threads spend their CPU and keeps perf.data."""
    s = Server("tandem", work, "profile")
    data = os.path.join(work, "perf.data")
    try:
        s.start()
        rec = subprocess.Popen(["perf", "record", "-F", "999", "--call-graph", "dwarf,16384", "-p", str(s.pid),
                                "-o", data], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(rec)
        time.sleep(0.5)
        c0 = s.cpu()
        r = perfdhcp(rate, period)
        cpu = s.cpu() - c0
        rec.send_signal(signal.SIGINT)
        rec.wait(60)
    finally:
        s.stop()
    print(f"tandem @{rate}/s: {r['acks']} ACKs of {r['discovers']} DISCOVERs, {cpu:.2f} CPU-s "
          f"({cpu / max(r['acks'], 1) * 1e6:.0f} µs/lease, perf's unwinding included)\n")
    for args in (["--no-children", "--sort", "comm"], ["--children", "--sort", "sym"]):
        out = sh("perf", "report", "-i", data, "--stdio", "-g", "none", *args)
        lines = [l for l in out.splitlines() if "%" in l and not l.startswith("#")]
        print("\n".join(lines[:40]) + "\n")
    print(f"perf.data kept in {work}")


def main():
    global GEN_MODE
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--period", type=int, default=3, help="seconds of load per step (perfdhcp -p)")
    ap.add_argument("--rates", default=",".join(map(str, RATES)), help="the offered-rate ladder")
    ap.add_argument("--repeat", type=int, default=3, help="head-to-head runs per server")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, lease files)")
    ap.add_argument("--profile", type=int, metavar="RATE",
                    help="instead of the benchmark: profile tandem alone at RATE with perf record")
    ap.add_argument("--also-tandem", metavar="PATH",
                    help="a second tandem binary, run as tandem-b beside the others at every step")
    ap.add_argument("--gen-mode", choices=["single", "multi"], default=GEN_MODE, help="perfdhcp -g")
    a = ap.parse_args()
    GEN_MODE = a.gen_mode
    if a.also_tandem:
        BINARY["tandem-b"] = os.path.abspath(a.also_tandem)
        SERVERS.insert(1, "tandem-b")
    rates = [int(x) for x in a.rates.split(",")]
    if max(rates) * a.period >= CLIENTS:
        raise SystemExit(f"rate x period must stay below {CLIENTS} so every client is new and the pool lasts")
    for prog in ("perfdhcp", "kea-dhcp4", "dhcpd", "strace", "ip"):
        if not shutil.which(prog):
            raise SystemExit(f"{prog} not found (Debian: apt-get install kea-admin kea-dhcp4-server isc-dhcp-server strace iproute2)")
    if not os.access(TANDEM, os.X_OK):
        raise SystemExit("build tandem first: cargo build --release -p tandem")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    work = tempfile.mkdtemp(prefix="tandem-dhcp-bench-", dir=os.path.join(ROOT, "target"))
    t_start = time.time()
    if a.profile:
        try:
            make_topology()
            profile(a.profile, a.period, work)
        finally:
            cleanup()
        return
    try:
        make_topology()
        print(f"topology: {NS_SRV} {IF_SRV} {SRV_IP}/{PREFIX} <-veth-> {NS_CLI} {IF_CLI} {CLI_IP}/{PREFIX}; "
              f"work dir {work} ({sh('findmnt', '-n', '-o', 'FSTYPE', '-T', work).strip()})")
        print(f"perfdhcp -4 -g {GEN_MODE} -l {IF_CLI} -r RATE -R {CLIENTS} -p {a.period} -W {WAIT_US} -x l {SRV_IP}\n")

        # perfdhcp never sets SO_RCVBUF (strace: only IP_PKTINFO), so every
        # reply reaches it through a socket of the kernel's default size.
        rmem = open("/proc/sys/net/core/rmem_default").read().strip()
        print(f"perfdhcp's receive buffer: net.core.rmem_default = {rmem} bytes (perfdhcp sets no SO_RCVBUF)")
        print(f"load average before: {open('/proc/loadavg').read().split()[:3]} (the machine may be shared)\n")
        print("1. sweep")
        fails = {k: 0 for k in SERVERS}        # consecutive failed steps
        sweep = {k: [] for k in SERVERS}
        for i, rate in enumerate(rates):
            order = SERVERS[i % len(SERVERS):] + SERVERS[:i % len(SERVERS)]
            for kind in order:
                if fails[kind] >= 2:
                    continue
                r = run_one(kind, rate, a.period, work, f"sweep{rate}")
                if not r["ok"]:
                    # One more try: a load spike from elsewhere on the
                    # shared machine should not end a server's sweep.
                    r2 = run_one(kind, rate, a.period, work, f"sweep{rate}b")
                    r = max(r, r2, key=lambda x: x["acks"])
                sweep[kind].append(r)
                fails[kind] = 0 if r["ok"] else fails[kind] + 1
            if all(v >= 2 for v in fails.values()):
                break
        best = {}
        for k in SERVERS:
            passed = [r for r in sweep[k] if r["ok"]]
            best[k] = max(passed, key=lambda r: r["rate"]) if passed else None

        # The targets: tandem at Kea's sustained rate (with Kea beside it),
        # and tandem at ten times ISC's.
        h2h = []
        if best["kea"]:
            h2h.append((best["kea"]["rate"], [k for k in SERVERS if k != "isc"], "Kea's sustained rate"))
        if best["isc"] and 10 * best["isc"]["rate"] * a.period < CLIENTS:
            r10 = 10 * best["isc"]["rate"]
            if h2h and h2h[0][0] == r10:
                h2h[0] = (r10, h2h[0][1], "Kea's sustained rate = 10x ISC's")
            else:
                h2h.append((r10, [k for k in SERVERS if k.startswith("tandem")], "10x ISC's sustained rate"))
        h2h_runs = []
        for rate, kinds, why in h2h:
            print(f"\n2. head-to-head at {rate}/s ({why}), {a.repeat} runs each")
            runs = {k: [] for k in kinds}
            for n in range(a.repeat):
                for kind in (kinds if n % 2 == 0 else list(reversed(kinds))):
                    runs[kind].append(run_one(kind, rate, a.period, work, f"h2h{rate}-{n}"))
            h2h_runs.append((rate, why, runs))

        print("\n3. fsync per lease (strace -f -c -e trace=fsync,fdatasync)")
        syncs = {k: strace_check(k, 500, 3, work) for k in SERVERS}
        loaded = {}
        if shutil.which("perf"):
            print("\n4. syncs under load (perf stat -e syscalls:sys_enter_fsync,...:sys_enter_fdatasync), "
                  "each at its sustained rate")
            for k in SERVERS:
                if best[k]:
                    r = run_one(k, best[k]["rate"], a.period, work, "perfstat", count_syncs=True)
                    loaded[k] = r
                    print(f"  {k:6} {r['syncs']} syncs for {r['acks']} ACKs = {r['syncs'] / max(r['acks'], 1):.2f} per lease")
    finally:
        cleanup()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\nsummary ({time.time() - t_start:.0f} s; 2 shared cores, perfdhcp on the same cores; "
          f"load average after: {' '.join(open('/proc/loadavg').read().split()[:3])})\n")
    print("| server | sustained rate (offered, ≤ 2% drops) | leases/s there | drops there | server CPU-s there (µs/lease) "
          "| peak leases/s (any step) | syncs per ACKed lease (strace, 500/s) | ACKed leases in the store |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    name = {"tandem": "tandem", "tandem-b": f"tandem-b ({BINARY.get('tandem-b')})",
            "kea": "Kea 2.2 (memfile)", "isc": "ISC dhcpd 4.4"}
    for k in SERVERS:
        b, peak = best[k], max(r["leases_s"] for r in sweep[k])
        sy = syncs[k]
        syn = f"{sy['per_lease']:.2f} ({sy['fsync'] + sy['fdatasync']} for {sy['acks']})"
        if b:
            stored = f"{b['acks'] - b['missing']:,} of {b['acks']:,}"
            if b["extra"]:
                stored += f" (+{b['extra']} whose ACK perfdhcp's socket dropped)"
            print(f"| {name[k]} | {b['rate']:,} | {b['leases_s']:,.0f} | {b['drops'] * 100:.2f}% | "
                  f"{b['cpu']:.2f} ({b['cpu'] / max(b['acks'], 1) * 1e6:.0f}) | {peak:,.0f} | {syn} | {stored} |")
        else:
            print(f"| {name[k]} | none passed | | | | {peak:,.0f} | {syn} | |")
    kb, ib = best["kea"], best["isc"]
    for tk in (k for k in SERVERS if k.startswith("tandem")):
        t = best[tk]
        if t and kb and ib:
            print(f"\n{tk} / Kea: {t['rate'] / kb['rate']:.2f}x sustained rate; "
                  f"{tk} / ISC: {t['rate'] / ib['rate']:.1f}x sustained rate")
    for rate, why, runs in h2h_runs:
        for k, rs in runs.items():
            ls = sorted(r["leases_s"] for r in rs)
            print(f"head-to-head @{rate}/s ({why}): {k:6} passed {sum(r['ok'] for r in rs)} of {len(rs)}; "
                  f"median {ls[len(ls) // 2]:.0f} leases/s; drops "
                  + ", ".join(f"{r['drops'] * 100:.2f}%" for r in rs))
    for k, r in loaded.items():
        print(f"syncs under load, {k} @{r['rate']}/s: {r['syncs']} for {r['acks']} ACKs "
              f"({r['syncs'] / max(r['acks'], 1):.2f} per lease"
              + (f", {r['acks'] / max(r['syncs'], 1):.1f} leases per group commit)" if k.startswith("tandem") else ")"))
    every = ([r for rs in sweep.values() for r in rs] + list(loaded.values())
             + [r for _, _, runs in h2h_runs for rs in runs.values() for r in rs])
    lost = [r for r in every if r["missing"]]
    odd = [r for r in every if r["extra"] > r["cli_bufdrop"]]
    print(f"lease check over {len(every)} runs: ACKed but missing from the store in {len(lost)} runs; "
          f"stored without a seen ACK beyond perfdhcp's own socket drops in {len(odd)} runs")
    if lost:
        sys.exit(1)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        cleanup()
        raise SystemExit("interrupted")
