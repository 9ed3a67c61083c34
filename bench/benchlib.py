"""What the namespace benchmarks share: running commands, a veth pair
between two namespaces of their own, and ending everything they started.

Every process a benchmark starts goes into `started` and every namespace
it makes into `namespaces`, before anything can fail, so `cleanup()` ends
the processes by PID (newest first) and deletes the namespaces on exit,
on error and on Ctrl-C (`on_signal`).
"""

import signal
import subprocess

started = []     # every Popen, ended by PID in cleanup()
namespaces = []  # every namespace made, deleted in cleanup()


def sh(*argv, check=True, **kw):
    r = subprocess.run(list(argv), capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {r.stdout}{r.stderr}")
    return r.stdout


def in_ns(ns, *argv):
    return ["ip", "netns", "exec", ns, *argv]


def add_namespace(ns):
    """A new namespace with its loopback up, recorded before it exists."""
    namespaces.append(ns)
    sh("ip", "netns", "add", ns)
    sh("ip", "-n", ns, "link", "set", "lo", "up")


def veth_pair(ns_a, if_a, cidr_a, ns_b, if_b, cidr_b):
    """Two new namespaces joined by a veth pair, each end with its address.

    The pair is made inside `ns_a` with its peer placed straight in `ns_b`:
    no end is ever in the root namespace. Neither namespace has a default
    route, so nothing else is reachable."""
    for ns in (ns_a, ns_b):
        add_namespace(ns)
    sh("ip", "-n", ns_a, "link", "add", if_a, "type", "veth", "peer", "name", if_b, "netns", ns_b)
    for ns, iface, cidr in ((ns_a, if_a, cidr_a), (ns_b, if_b, cidr_b)):
        sh("ip", "-n", ns, "addr", "add", cidr, "dev", iface)
        sh("ip", "-n", ns, "link", "set", iface, "up")
        routes = sh("ip", "-n", ns, "-4", "route", "show")
        assert "default" not in routes, routes
    root = sh("ip", "link", "show")
    if if_a in root or if_b in root:
        raise SystemExit("a benchmark veth appeared in the root namespace")


def cleanup():
    for p in reversed(started):
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
                p.wait(5)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                p.kill()
                p.wait()
    for ns in namespaces:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    namespaces.clear()


def on_signal(signum, _frame):
    raise SystemExit(f"stopped by signal {signum}")
