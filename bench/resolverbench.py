#!/usr/bin/python3
"""Cached-answer throughput of forwarding resolvers on loopback:
tandem vs Unbound and dnsmasq (Debian packages), one run, same upstream
(Knot serving bench.test), same query set.

  bench/resolverbench.py [seconds] [rounds]

A fourth row, "tandem-auth", is tandem serving bench.test itself and
answering the same queries authoritatively: the ceiling this harness
(loopback, dnsperf on the same two cores) allows tandem's UDP path, to
tell resolver cost from socket cost. Each forwarder is started alone, warmed with one pass over every distinct
question of the set (so the measured run is answered from its cache),
checked with dig, then loaded with dnsperf for `seconds`; rounds alternate
the order. Processes are ended by PID; everything listens on 127.0.0.1.
"""
import os, random, re, shutil, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dnsbench  # noqa: E402  (free_port, write_zone, Server for Knot)

ROOT = dnsbench.ROOT
ZONE = dnsbench.ZONE
DISTINCT = 5000


def write_queries(distinct_path, load_path, n=50000):
    rnd = random.Random(7)
    qs = set()
    while len(qs) < DISTINCT:
        r = rnd.random()
        if r < 0.8:
            qs.add(f"h{rnd.randrange(dnsbench.NAMES)}.{ZONE} A")
        elif r < 0.9:
            qs.add(f"c{rnd.randrange(dnsbench.NAMES // 10) * 10}.{ZONE} A")
        else:
            qs.add(f"nx{rnd.randrange(2000)}.{ZONE} A")
    qs = sorted(qs)
    with open(distinct_path, "w") as f:
        f.write("\n".join(qs) + "\n")
    with open(load_path, "w") as f:
        for _ in range(n):
            f.write(rnd.choice(qs) + "\n")


class Forwarder:
    def __init__(self, kind, work, upstream_port):
        self.kind, self.port = kind, dnsbench.free_port()
        self.dir = os.path.join(work, f"{kind}-{self.port}")
        os.makedirs(self.dir)
        d, p, u = self.dir, self.port, upstream_port
        if kind == "tandem":
            conf = os.path.join(d, "tandem.toml")
            open(conf, "w").write(
                f'[server]\nstate-dir = "{d}/state"\n[dns]\nlisten = ["127.0.0.1:{p}"]\nudp-workers = 2\n'
                f'[resolver]\nupstreams = ["127.0.0.1:{u}"]\nallow-recursion = ["127.0.0.0/8"]\nrate-limit = 0\n')
            self.argv = [os.path.join(ROOT, "target/release/tandem"), "serve", "--config", conf]
            self.ready = "tandem ready"
        elif kind == "unbound":
            conf = os.path.join(d, "unbound.conf")
            open(conf, "w").write(
                f'server:\n  interface: 127.0.0.1@{p}\n  port: {p}\n  num-threads: 2\n  so-reuseport: yes\n'
                f'  do-daemonize: no\n  username: ""\n  chroot: ""\n  directory: "{d}"\n  pidfile: ""\n'
                f'  use-syslog: no\n  logfile: ""\n  verbosity: 1\n  do-not-query-localhost: no\n  do-ip6: no\n'
                f'  access-control: 127.0.0.0/8 allow\n  module-config: "iterator"\n  local-zone: "test." nodefault\n'
                f'remote-control:\n  control-enable: no\n'
                f'forward-zone:\n  name: "."\n  forward-addr: 127.0.0.1@{u}\n')
            self.argv = ["unbound", "-d", "-c", conf]
            self.ready = "start of service"
        elif kind == "dnsmasq":
            self.argv = ["dnsmasq", "--keep-in-foreground", "--log-facility=-", "--conf-file=/dev/null",
                         f"--port={p}", "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv",
                         "--no-hosts", f"--server=127.0.0.1#{u}", "--cache-size=10000", "--user=root",
                         f"--pid-file={d}/pid"]
            self.ready = "started, version"
        self.proc = None

    start = dnsbench.Server.start
    cpu = dnsbench.Server.cpu
    rss_kb = dnsbench.Server.rss_kb
    stop = dnsbench.Server.stop

    def dig(self, name, rtype="A"):
        return subprocess.run(["dig", "@127.0.0.1", "-p", str(self.port), "+short", "+time=2", "+tries=1",
                               name, rtype], capture_output=True, text=True).stdout.strip()


def dnsperf(port, queries, seconds, extra=()):
    out = subprocess.run(["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", queries, *extra,
                          "-l", str(seconds), "-c", "4", "-q", "200"], capture_output=True, text=True).stdout
    qps = float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1))
    lat = float(re.search(r"Average Latency \(s\):\s+([\d.]+)", out).group(1))
    lost = int(re.search(r"Queries lost:\s+(\d+)", out).group(1))
    codes = re.search(r"Response codes:\s+(.*)", out)
    return qps, lat, lost, codes.group(1) if codes else ""


def main(seconds=10, rounds=2):
    work = tempfile.mkdtemp(prefix="tandem-rbench-", dir=os.path.join(ROOT, "target"))
    zonefile = os.path.join(work, "zone")
    distinct, load = os.path.join(work, "distinct"), os.path.join(work, "load")
    dnsbench.write_zone(zonefile)
    write_queries(distinct, load)
    order = ["tandem", "unbound", "dnsmasq", "tandem-auth"]
    results = {k: [] for k in order}
    upstream = dnsbench.Server("knot", work, zonefile, updates=False)
    upstream.start()
    try:
        for r in range(rounds):
            for kind in (order if r % 2 == 0 else list(reversed(order))):
                if kind == "tandem-auth":
                    f = dnsbench.Server("tandem", work, zonefile, updates=False)
                else:
                    f = Forwarder(kind, work, upstream.port)
                try:
                    f.start()
                    # Warm the cache: every distinct question once, slowly
                    # enough that the upstream answers all of them.
                    wqps, _, wlost, _ = dnsperf(f.port, distinct, 30, ["-n", "1", "-Q", "5000"])
                    c0 = f.cpu()
                    qps, lat, lost, codes = dnsperf(f.port, load, seconds)
                    cpu = f.cpu() - c0
                    rss = f.rss_kb()
                    results[kind].append((qps, lat, qps * seconds / max(cpu, 1e-9), rss, lost))
                    print(f"round {r + 1} {kind:8} {qps:10.0f} qps  {lat * 1e6:6.0f} us  "
                          f"{qps * seconds / max(cpu, 1e-9):10.0f} q/cpu-s  rss {rss} kB  lost {lost}  "
                          f"(warm-up lost {wlost}; codes {codes})", flush=True)
                finally:
                    f.stop()
    finally:
        upstream.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("\nforwarder    qps (mean)   latency   q/CPU-s   peak RSS")
    mean = {}
    for k in order:
        v = results[k]
        m = tuple(sum(x[i] for x in v) / len(v) for i in range(4))
        mean[k] = m
        print(f"{k:11} {m[0]:11.0f} {m[1] * 1e6:7.0f}us {m[2]:10.0f} {m[3]:8.0f}kB")
    t = mean["tandem"]
    for other in ["unbound", "dnsmasq", "tandem-auth"]:
        o = mean[other]
        print(f"tandem/{other}: qps {t[0] / o[0]:.2f}x, q/CPU-s {t[2] / o[2]:.2f}x, RSS {t[3] / o[3]:.2f}x")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*args)
