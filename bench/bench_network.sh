#!/usr/bin/env bash
# The network benchmark of issue 3 (figures in docs/performance.md, "Network"). Not a test:
# it prints figures and compares them with the issue's goals, it does not fail on them.
#
#  1. Propagation: N gifd nodes (16, then 32) on 127.0.0.1 in a random connected topology with
#     a bounded peer count (node i seeds 3 random earlier nodes; node 1 seeds node 0, node 2
#     nodes 0 and 1), durable writes ([storage] sync = true). 1,000 md5 signals published
#     through the API (POST /v1/signals, one per request) at random origins, spread evenly
#     over 5 s. From every node's feed (GET /v1/records): for each record, its "time" (set by
#     the origin when it signs) to its "accepted" at the last node to accept it; p50, p99, max.
#     Payload copies per node per record: the sum over nodes of the growth of
#     gifnet_peer_records_received_total / (records x (N-1)); duplicates likewise. Median of
#     BENCH_NET_RUNS runs on the same network (fresh records each run); then the nodes are
#     restarted with sync = false and one more run is reported for comparison.
#  2. Partition: N = 32 nodes in two halves, each a random connected topology as above; the
#     only links between halves (4: two dialled each way) go through bench/partition_proxy.py.
#     The proxy cuts them (drops the connections, refuses new ones) for 60 s while 10,000
#     records are published (5,000 at random origins of each half), then heals. Reported:
#     time from the heal to identical state (every missing record accepted everywhere: from
#     the feeds' "accepted" times, confirmed by equal /v1/status records and equal feed id
#     sets), when the cross links came back, and bytes during catch-up against the minimal
#     bytes (the signed bytes of the records each node lacked): bytes read by all gifd
#     processes (/proc/PID/io rchar: TLS ciphertext from peers plus this script's small status
#     polls), record copies received, and bytes through the proxy against one copy of each
#     record crossing. Run once.
#
# Builds nothing: uses build/gifd and build/gifctl. Listens on 127.0.0.1 only (ports picked
# at random in 20000-31999 and checked free). Every process it starts and its temporary
# directory are removed on exit, also on failure or Ctrl-C (keep the directory with
# BENCH_NET_KEEP=1). Takes about 5 minutes.
#
# Environment (for quicker trials): BENCH_NET_SIZES (default "16 32"), BENCH_NET_RUNS (3),
# BENCH_NET_RECORDS (1000), BENCH_NET_SPREAD (5 s), BENCH_NET_NOSYNC (1: also the sync = false
# run), BENCH_NET_PARTITION_N (32; 0 skips the partition), BENCH_NET_CUT (60 s),
# BENCH_NET_PARTITION_RECORDS (10000).
set -euo pipefail
cd "$(dirname "$0")/.."
for b in build/gifd build/gifctl; do
    [ -x "$b" ] || { echo "bench_network: $b is missing (build first: make)" >&2; exit 1; }
done
for t in python3; do
    command -v "$t" >/dev/null || { echo "bench_network: $t is not installed" >&2; exit 1; }
done
export BENCH_NET_ROOT=$PWD
exec python3 - "$@" <<'PY'
import atexit, ctypes, http.client, json, os, random, re, shutil, signal, socket, statistics
import subprocess, sys, tempfile, threading, time

ROOT = os.environ["BENCH_NET_ROOT"]
GIFD = os.path.join(ROOT, "build/gifd")
GIFCTL = os.path.join(ROOT, "build/gifctl")
PROXY = os.path.join(ROOT, "bench/partition_proxy.py")
SIZES = [int(x) for x in os.environ.get("BENCH_NET_SIZES", "16 32").split()]
RUNS = int(os.environ.get("BENCH_NET_RUNS", "3"))
RECORDS = int(os.environ.get("BENCH_NET_RECORDS", "1000"))
SPREAD = float(os.environ.get("BENCH_NET_SPREAD", "5"))
NOSYNC = os.environ.get("BENCH_NET_NOSYNC", "1") == "1"
PART_N = int(os.environ.get("BENCH_NET_PARTITION_N", "32"))
CUT = float(os.environ.get("BENCH_NET_CUT", "60"))
PART_RECORDS = int(os.environ.get("BENCH_NET_PARTITION_RECORDS", "10000"))
SEEDS_PER_NODE = 3
CROSS_LINKS = 4

TMP = tempfile.mkdtemp(prefix="gifnet-bench-net.")
PROCS = []  # every process started: (Popen, name)
libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent():
    # PR_SET_PDEATHSIG: a child is killed if this script dies without cleaning up.
    libc.prctl(1, signal.SIGKILL)


def cleanup():
    for p, _ in PROCS:
        if p.poll() is None:
            try:
                p.kill()
            except OSError:
                pass
    for p, _ in PROCS:
        try:
            p.wait(timeout=10)
        except Exception:
            pass
    if os.environ.get("BENCH_NET_KEEP") == "1":
        print(f"# kept {TMP}")
    else:
        shutil.rmtree(TMP, ignore_errors=True)


atexit.register(cleanup)


def on_signal(sig, _):
    print(f"# interrupted (signal {sig})", flush=True)
    sys.exit(130)


signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)
signal.signal(signal.SIGHUP, on_signal)


def log(msg):
    print(msg, flush=True)


class Fatal(Exception):
    pass


# ---------------------------------------------------------------- ports and HTTP
USED = set()


def free_port():
    for _ in range(1000):
        p = random.randint(20000, 31999)
        if p in USED:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            s.close()
        USED.add(p)
        return p
    raise Fatal("no free port")


_local = threading.local()


def req(port, method, path, body=None, token=None, timeout=30):
    """One request on a keep-alive connection of this thread; returns (status, bytes)."""
    conns = getattr(_local, "conns", None)
    if conns is None:
        conns = _local.conns = {}
    for attempt in range(2):
        c = conns.get(port)
        if c is None:
            c = conns[port] = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        hdrs = {}
        if body is not None:
            hdrs["Content-Type"] = "application/json"
        if token:
            hdrs["Authorization"] = "Bearer " + token
        try:
            c.request(method, path, body=body, headers=hdrs)
            r = c.getresponse()
            data = r.read()
            return r.status, data
        except (OSError, http.client.HTTPException):
            c.close()
            del conns[port]
            if attempt == 1:
                return 0, b""
    return 0, b""




def get_json(port, path):
    st, data = req(port, "GET", path)
    if st != 200:
        return None
    return json.loads(data)


def ms(t):
    # "2026-11-22T03:30:00.123Z" -> ms since the epoch
    import calendar
    return calendar.timegm(time.strptime(t[:19], "%Y-%m-%dT%H:%M:%S")) * 1000 + int(t[20:23])


def pct(v, q):
    v = sorted(v)
    if not v:
        return float("nan")
    k = (len(v) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


# ---------------------------------------------------------------- nodes
class Node:
    def __init__(self, i, d, api, peer):
        self.i, self.dir, self.api, self.peer = i, d, api, peer
        self.seeds = []  # peer ports this node dials
        self.token = None
        self.key = None
        self.proc = None
        self.cursor = "0"
        self.feed = {}  # id -> record json (time, accepted, size)

    def ini(self):
        return os.path.join(self.dir, "gifd.ini")


def random_topology(idx):
    """Node idx[k] seeds min(k, 3) random earlier nodes of idx: connected, bounded degree."""
    edges = []
    for k in range(1, len(idx)):
        for j in random.sample(range(k), min(k, SEEDS_PER_NODE)):
            edges.append((idx[k], idx[j]))  # (dialler, listener)
    return edges


def make_network(name, n, edges, sync=True, extra_seeds=None):
    """Creates a consortium and n nodes; edges are (dialler, listener) index pairs; extra_seeds
    maps a node index to more seed ports (the proxy's)."""
    base = os.path.join(TMP, name)
    os.makedirs(base)
    cons = os.path.join(base, "cons")
    subprocess.run([GIFCTL, "consortium", "init", "--dir", cons, "--name", name], check=True,
                   stdout=subprocess.DEVNULL)
    nodes = [Node(i, os.path.join(base, f"n{i:02d}"), free_port(), free_port()) for i in range(n)]
    for a, b in edges:
        nodes[a].seeds.append(nodes[b].peer)
    for i, p in (extra_seeds or {}).items():
        nodes[i].seeds.extend(p)
    for nd in nodes:
        cmd = [GIFCTL, "node", "init", "--consortium", cons, "--dir", nd.dir, "--org", f"Org{nd.i:02d}",
               "--role", "platform", "--api", f"127.0.0.1:{nd.api}", "--peer", f"127.0.0.1:{nd.peer}"]
        for s in nd.seeds:
            cmd += ["--seed", f"127.0.0.1:{s}"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with open(nd.ini()) as f:
            ini = f.read()
        nd.token = re.search(r"^token = (\S+)", ini, re.M).group(1)
        with open(os.path.join(nd.dir, "node.pub")) as f:
            nd.key = re.search(r"[0-9a-f]{64}", f.read()).group(0)
    for nd in nodes:  # every node knows every member at start
        shutil.copy(os.path.join(cons, "members.jsonl"), os.path.join(nd.dir, "members.jsonl"))
        set_sync(nd, sync)
    return nodes


def set_sync(nd, sync):
    with open(nd.ini()) as f:
        ini = f.read()
    ini = re.sub(r"^sync = \w+", "sync = " + ("true" if sync else "false"), ini, flags=re.M)
    with open(nd.ini(), "w") as f:
        f.write(ini)


def start_nodes(nodes):
    for nd in nodes:
        logf = open(os.path.join(nd.dir, "gifd.log"), "a")
        nd.proc = subprocess.Popen([GIFD, "--config", nd.ini()], stdout=logf, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
        logf.close()
        PROCS.append((nd.proc, nd.dir))
    deadline = time.time() + 30
    for nd in nodes:
        while True:
            if nd.proc.poll() is not None:
                raise Fatal(f"gifd {nd.dir} exited with {nd.proc.returncode}: " + tail(nd))
            st, _ = req(nd.api, "GET", "/v1/status", timeout=2)
            if st == 200:
                break
            if time.time() > deadline:
                raise Fatal(f"gifd {nd.dir} does not answer /v1/status: " + tail(nd))
            time.sleep(0.05)


def stop_nodes(nodes):
    for nd in nodes:
        nd.proc.terminate()
    bad = []
    for nd in nodes:
        try:
            rc = nd.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            nd.proc.kill()
            nd.proc.wait()
            rc = "killed after 15 s"
        if rc != 0:
            bad.append(f"{os.path.basename(nd.dir)}: {rc}")
    if bad:
        log("# gifd PROBLEM: nodes did not exit with 0 on SIGTERM: " + ", ".join(bad))
    _local.conns = {}


def tail(nd, n=15):
    try:
        with open(os.path.join(nd.dir, "gifd.log"), errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def check_alive(nodes):
    dead = [nd for nd in nodes if nd.proc.poll() is not None]
    if dead:
        raise Fatal("gifd PROBLEM: nodes exited: " + "; ".join(
            f"{os.path.basename(nd.dir)} rc={nd.proc.returncode}: {tail(nd, 8)}" for nd in dead))


def degrees(nodes, edges):
    deg = [0] * len(nodes)
    for a, b in edges:
        deg[a] += 1
        deg[b] += 1
    return deg


def ready_peers(nd):
    j = get_json(nd.api, "/v1/peers")
    if j is None:
        return None
    return {p["key"] for p in j["peers"] if p["state"] == "ready"}


def wait_links(nodes, deg, limit=60):
    t0 = time.time()
    while True:
        check_alive(nodes)
        counts = [len(ready_peers(nd) or ()) for nd in nodes]
        if all(c >= d for c, d in zip(counts, deg)):
            return time.time() - t0
        if time.time() - t0 > limit:
            short = [(os.path.basename(nd.dir), c, d) for nd, c, d in zip(nodes, counts, deg) if c < d]
            raise Fatal(f"links not ready after {limit} s (node, ready, expected): {short}")
        time.sleep(0.2)


METRICS = ["gifnet_peer_records_received_total", "gifnet_peer_duplicates_total",
           "gifnet_peer_records_pushed_total", "gifnet_peer_push_dropped_total",
           "gifnet_antientropy_pulls_total", "gifnet_plumtree_prunes_total", "gifnet_plumtree_grafts_total",
           "gifnet_peer_cut_through_total"]


def metrics(nodes):
    tot = dict.fromkeys(METRICS, 0.0)
    for nd in nodes:
        st, data = req(nd.api, "GET", "/metrics")
        if st != 200:
            raise Fatal(f"/metrics of {nd.dir} answered {st}")
        for line in data.decode().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] in tot:
                tot[parts[0]] += float(parts[1])
    return tot


def mdelta(a, b):
    return {k: b[k] - a[k] for k in a}


def records_count(nd):
    j = get_json(nd.api, "/v1/status")
    return None if j is None else j["records"]


def fetch_feed(nd):
    """Reads the node's feed from its cursor on; keeps time, accepted and signed size by id."""
    while True:
        st, data = req(nd.api, "GET", f"/v1/records?after={nd.cursor}&limit=1000", timeout=60)
        if st != 200:
            raise Fatal(f"feed of {nd.dir} answered {st}")
        j = json.loads(data)
        for r in j["records"]:
            nd.feed[r["id"]] = (ms(r["time"]), ms(r["accepted"]), len(r["record"]) // 2)
        nd.cursor = j["next"]
        if not j["more"]:
            return


def fetch_feeds(nodes):
    ths = [threading.Thread(target=fetch_feed, args=(nd,)) for nd in nodes]
    for t in ths:
        t.start()
    for t in ths:
        t.join()


def publish(jobs, t0, workers=8):
    """jobs: list of (offset_s, node); each posts one md5 signal at t0 + offset. Returns the
    list of (id, node index) published, and the errors."""
    out, errors, lock = [], [], threading.Lock()
    queue = list(jobs)
    queue.reverse()

    def worker():
        while True:
            with lock:
                if not queue:
                    return
                off, nd = queue.pop()
            d = t0 + off - time.time()
            if d > 0:
                time.sleep(d)
            body = json.dumps({"type": "md5", "value": os.urandom(16).hex()})
            for attempt in range(50):
                st, data = req(nd.api, "POST", "/v1/signals", body, nd.token)
                if st != 409 and st != 503:
                    break
                time.sleep(0.1)  # 409 behind_own_log: waiting for a peer's version vector
            with lock:
                if st == 201:
                    out.append((json.loads(data)["id"], nd.i))
                else:
                    errors.append(f"{os.path.basename(nd.dir)}: {st} {data[:200]!r}")

    ths = [threading.Thread(target=worker) for _ in range(workers)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    return out, errors


def wait_counts(nodes, want, limit, interval=0.1):
    """Polls /v1/status until every node (a list) holds want[i] records; returns the time it
    took or None on timeout (with the counts)."""
    t0 = time.time()
    while True:
        counts = [records_count(nd) for nd in nodes]
        if all(c == w for c, w in zip(counts, want)):
            return time.time() - t0, counts
        if time.time() - t0 > limit:
            return None, counts
        check_alive(nodes)
        time.sleep(interval)


# ---------------------------------------------------------------- 1. propagation
def propagation_run(nodes, label):
    n = len(nodes)
    base = [records_count(nd) for nd in nodes]
    if len(set(base)) != 1:
        log(f"# note: nodes differ before the run: {base}")
    m0 = metrics(nodes)
    jobs = [(k * SPREAD / RECORDS, random.choice(nodes)) for k in range(RECORDS)]
    t0 = time.time() + 0.2
    pub, errors = publish(jobs, t0)
    t_pub = time.time() - t0
    if errors:
        log(f"# {len(errors)} publishes failed, e.g. {errors[:3]}")
    took, counts = wait_counts(nodes, [b + len(pub) for b in base], 60)
    if took is None:
        raise Fatal(f"gifd PROBLEM: {label}: not every node holds the {len(pub)} records 60 s after "
                    f"publishing: records per node {counts} (expected {base[0] + len(pub)})")
    time.sleep(1.0)  # pushes still in flight (duplicates) land in the counters
    m1 = metrics(nodes)
    fetch_feeds(nodes)
    last, every, order = [], [], []
    missing = 0
    for rid, origin in pub:
        acc = []
        for nd in nodes:
            r = nd.feed.get(rid)
            if r is None:
                missing += 1
                continue
            acc.append(r[1])
            if nd.i != origin:
                every.append(r[1] - r[0])
        t = nodes[origin].feed[rid][0]
        last.append(max(acc) - t)
        order.append((t, max(acc) - t))
    if missing:
        raise Fatal(f"gifd PROBLEM: {label}: {missing} (record, node) pairs missing from feeds")
    d = mdelta(m0, m1)
    R = len(pub)
    res = {
        "records": R, "publish_s": t_pub,
        "p50": pct(last, 0.5), "p99": pct(last, 0.99), "max": max(last),
        "node_p50": pct(every, 0.5), "node_p99": pct(every, 0.99),
        "copies": d["gifnet_peer_records_received_total"] / (R * (n - 1)),
        "dups": d["gifnet_peer_duplicates_total"],
        "dups_per": d["gifnet_peer_duplicates_total"] / (R * (n - 1)),
        "pushed": d["gifnet_peer_records_pushed_total"], "dropped": d["gifnet_peer_push_dropped_total"],
        "pulls": d["gifnet_antientropy_pulls_total"],
        "prunes": d["gifnet_plumtree_prunes_total"], "grafts": d["gifnet_plumtree_grafts_total"],
        "cut": d["gifnet_peer_cut_through_total"] / (R * (n - 1)),
    }
    order.sort()
    q = max(1, len(order) // 4)
    res["first_q"] = pct([x for _, x in order[:q]], 0.5)
    res["last_q"] = pct([x for _, x in order[-q:]], 0.5)
    if d["gifnet_peer_records_received_total"] < R * (n - 1):
        log(f"# gifd PROBLEM? {label}: gifnet_peer_records_received_total grew by "
            f"{d['gifnet_peer_records_received_total']:.0f}, less than the {R * (n - 1)} records the "
            f"nodes other than the origin must each have received once: the counter undercounts")
    log(f"#   {label}: {R} records published in {t_pub:.1f} s; publish -> last node: p50 {res['p50']:.0f} ms, "
        f"p99 {res['p99']:.0f} ms, max {res['max']:.0f} ms (any node: p50 {res['node_p50']:.0f}, "
        f"p99 {res['node_p99']:.0f}); copies/node/record {res['copies']:.2f}, duplicates {res['dups']:.0f} "
        f"({res['dups_per']:.2f}/node/record), push dropped {res['dropped']:.0f}, WANTs {res['pulls']:.0f}, "
        f"prunes {res['prunes']:.0f}, grafts {res['grafts']:.0f}, forwarded on receipt (cut-through) "
        f"{100 * res['cut']:.0f}% of node-records; last-node p50 of the first/last quarter "
        f"published: {res['first_q']:.0f}/{res['last_q']:.0f} ms")
    return res


def goal(ok):
    return "goal MET" if ok else "goal NOT met"


def bench_propagation(n):
    edges = random_topology(list(range(n)))
    nodes = make_network(f"prop{n}", n, edges, sync=True)
    deg = degrees(nodes, edges)
    mean_deg = sum(deg) / n
    # Flooding (every node pushes each record to every peer but the one it came from):
    # copies per node per record = (2E - (N-1)) / (N-1).
    flood = (2 * len(edges) - (n - 1)) / (n - 1)
    log(f"## N = {n}: {len(edges)} links, peers per node mean {mean_deg:.1f} (min {min(deg)}, max {max(deg)})")
    t = time.time()
    start_nodes(nodes)
    tl = wait_links(nodes, deg)
    log(f"#   {n} nodes up in {time.time() - t:.1f} s (links ready {tl:.1f} s after the APIs answered)")
    time.sleep(1)
    runs = [propagation_run(nodes, f"run {k + 1}, sync = true") for k in range(RUNS)]
    nosync = None
    if NOSYNC:
        stop_nodes(nodes)
        for nd in nodes:
            set_sync(nd, False)
        start_nodes(nodes)
        wait_links(nodes, deg)
        time.sleep(1)
        nosync = propagation_run(nodes, "sync = false")
    check_alive(nodes)
    stop_nodes(nodes)
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    log(f"## N = {n}, durable writes, median of {len(runs)} runs of {RECORDS} records over {SPREAD:g} s:")
    log(f"   publish -> acceptance at the last node: p50 {med['p50']:.0f} ms, p99 {med['p99']:.0f} ms, "
        f"max {med['max']:.0f} ms")
    log(f"   payload copies received per node per record: {med['copies']:.2f} (flooding over this "
        f"topology predicts {flood:.2f}); duplicates dropped: {med['dups']:.0f} ({med['dups_per']:.2f} per node per record)")
    if nosync:
        log(f"   sync = false (1 run): p50 {nosync['p50']:.0f} ms, p99 {nosync['p99']:.0f} ms, max {nosync['max']:.0f} ms, "
            f"copies {nosync['copies']:.2f}")
    if n == 32:
        log(f"   goal p99 to all 32 nodes < 100 ms: {med['p99']:.0f} ms: {goal(med['p99'] < 100)}")
    log(f"   goal < 1.5 payload copies per node per record: {med['copies']:.2f}: {goal(med['copies'] < 1.5)}")
    return {"n": n, "edges": len(edges), "mean_deg": mean_deg, "flood": flood, "med": med, "runs": runs,
            "nosync": nosync}


# ---------------------------------------------------------------- 2. partition
def proc_rchar(nodes):
    tot = 0
    for nd in nodes:
        with open(f"/proc/{nd.proc.pid}/io") as f:
            for line in f:
                if line.startswith("rchar:"):
                    tot += int(line.split()[1])
    return tot


def proxy_stats(path):
    with open(path) as f:
        return json.load(f)


def bench_partition(n):
    half = n // 2
    H = [list(range(half)), list(range(half, n))]
    edges = random_topology(H[0]) + random_topology(H[1])
    # Cross links through the proxy: two dialled from each half, to distinct random nodes.
    cross = []
    for k in range(CROSS_LINKS):
        src, dst = (H[1], H[0]) if k % 2 == 0 else (H[0], H[1])
        cross.append((random.choice(src), random.choice(dst)))
    cross = list(dict.fromkeys(cross))
    proxy_ports = [free_port() for _ in cross]
    extra = {}
    for (a, _), pp in zip(cross, proxy_ports):
        extra.setdefault(a, []).append(pp)
    nodes = make_network(f"part{n}", n, edges, sync=True, extra_seeds=extra)
    deg = degrees(nodes, edges + cross)
    control = os.path.join(TMP, "cut")
    stats_path = os.path.join(TMP, "proxy.json")
    pp = subprocess.Popen([sys.executable, PROXY, "--control", control, "--stats", stats_path] +
                          [f"{p}:{nodes[b].peer}" for (_, b), p in zip(cross, proxy_ports)],
                          stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                          preexec_fn=die_with_parent)
    PROCS.append((pp, "proxy"))
    if pp.stdout.readline().strip() != "ready":
        raise Fatal("partition proxy did not start")
    log(f"## partition: N = {n}, halves of {half}, {len(edges)} links inside the halves, {len(cross)} "
        f"crossing through the proxy (cut for {CUT:g} s, {PART_RECORDS} records published during the cut)")
    start_nodes(nodes)
    wait_links(nodes, deg)
    time.sleep(1)
    base = records_count(nodes[0])
    fetch_feeds(nodes)
    known = [set(nd.feed) for nd in nodes]

    # The cut.
    open(control, "w").close()
    t_cut = time.time()
    cross_nodes = [(nodes[a], nodes[b]) for a, b in cross]

    def cross_ready():
        return sum(1 for a, b in cross_nodes if b.key in (ready_peers(a) or ()))

    while cross_ready() and time.time() - t_cut < 10:
        time.sleep(0.1)
    if cross_ready():
        raise Fatal("the cross links are still ready 10 s after the cut")
    per_half = PART_RECORDS // 2
    span = max(1.0, CUT - 10)
    jobs = [(k * span / PART_RECORDS, nodes[random.choice(H[k % 2])]) for k in range(2 * per_half)]
    pub, errors = publish(jobs, time.time() + 0.2)
    t_pubdone = time.time() - t_cut
    if errors:
        log(f"# {len(errors)} publishes failed, e.g. {errors[:3]}")
    pub_by_half = [sum(1 for _, o in pub if o in H[h]) for h in (0, 1)]
    log(f"#   cut at t=0; {len(pub)} records published ({pub_by_half[0]} + {pub_by_half[1]}) by t={t_pubdone:.1f} s")
    want = [base + pub_by_half[0 if i < half else 1] for i in range(n)]
    left = CUT - (time.time() - t_cut)
    took, counts = wait_counts(nodes, want, max(left - 0.5, 1), interval=0.5)
    if took is None:
        log(f"#   NOTE: the halves had not converged internally before the heal: {counts} (want {want[0]}, {want[-1]})")
    else:
        log(f"#   each half identical inside itself at t={time.time() - t_cut:.1f} s")
    leak = [c for c, w in zip(counts, want) if c is not None and c > w]
    if leak:
        raise Fatal(f"records crossed the cut: {counts}")
    while time.time() - t_cut < CUT:
        time.sleep(0.05)
    check_alive(nodes)
    r0, px0, m0 = proc_rchar(nodes), proxy_stats(stats_path), metrics(nodes)
    r0 = proc_rchar(nodes)  # after the metrics scrape: only catch-up and status polls count
    # The heal.
    os.unlink(control)
    t_heal = time.time()
    polls = 0
    cross_back = {}
    total = base + len(pub)
    t_equal = None
    while time.time() - t_heal < 180:
        counts = [records_count(nd) for nd in nodes]
        polls += n
        for k, (a, b) in enumerate(cross_nodes):
            if k not in cross_back and b.key in (ready_peers(a) or ()):
                cross_back[k] = time.time() - t_heal
                polls += 1
        polls += len(cross_nodes) - len(cross_back)
        if all(c == total for c in counts):
            t_equal = time.time() - t_heal
            break
        check_alive(nodes)
        time.sleep(0.2)
    if t_equal is None:
        raise Fatal(f"gifd PROBLEM: no convergence 180 s after the heal: records per node {counts}, "
                    f"expected {total}; cross links back: {cross_back}")
    time.sleep(1.0)  # trailing duplicates land in the counters
    r1, px1 = proc_rchar(nodes), proxy_stats(stats_path)
    m1 = metrics(nodes)
    fetch_feeds(nodes)
    ids = set(nodes[0].feed)
    same = all(set(nd.feed) == ids for nd in nodes)
    # Time to identical state: the last acceptance of a record that a node lacked at the heal.
    pub_ids = {rid for rid, _ in pub}
    size = {rid: nodes[0].feed[rid][2] for rid in pub_ids}
    last_acc, minimal, lacked = 0, 0, 0
    for nd in nodes:
        for rid in pub_ids:
            r = nd.feed[rid]
            if r[1] > t_heal * 1000 - 1:
                last_acc = max(last_acc, r[1])
                minimal += size[rid]
                lacked += 1
    t_ident = last_acc / 1000 - t_heal
    d = mdelta(m0, m1)
    rbytes = r1 - r0
    poll_bytes = polls * 90  # "GET /v1/status HTTP/1.1" + Host + Accept-Encoding: about 80-90 bytes
    cross_min = sum(size.values())
    pxb = px1["total"] - px0["total"]
    rec_ratio = d["gifnet_peer_records_received_total"] / max(lacked, 1)
    avg = sum(size.values()) / len(size)
    log(f"#   heal at t={t_heal - t_cut:.1f} s; cross links ready again after "
        + ", ".join(f"{cross_back[k]:.1f} s" if k in cross_back else "?" for k in range(len(cross_nodes)))
        + f"; all {n} nodes hold {total} records {t_equal:.1f} s after the heal (status polls every 0.2 s)")
    log(f"## partition result (one run), N = {n}, {len(pub)} records during a {CUT:g} s cut:")
    log(f"   time from heal to identical state (last missing record accepted, from the feeds): {t_ident:.2f} s; "
        f"feed id sets identical on all nodes: {'yes' if same else 'NO'}")
    log(f"   minimal catch-up bytes: {lacked} missing (node, record) pairs x {avg:.0f} B signed = {minimal / 1e6:.2f} MB")
    log(f"   bytes read by all gifd during catch-up (/proc rchar, TLS from peers + ~{poll_bytes / 1e3:.0f} kB of status polls): "
        f"{rbytes / 1e6:.2f} MB = {rbytes / minimal:.2f}x minimal")
    log(f"   record copies received during catch-up: {d['gifnet_peer_records_received_total']:.0f} for {lacked} missing = "
        f"{rec_ratio:.2f}x (duplicates {d['gifnet_peer_duplicates_total']:.0f}, WANTs {d['gifnet_antientropy_pulls_total']:.0f}, "
        f"grafts {d['gifnet_plumtree_grafts_total']:.0f}, "
        f"push dropped {d['gifnet_peer_push_dropped_total']:.0f})")
    log(f"   bytes through the proxy (both ways): {pxb / 1e6:.2f} MB = {pxb / cross_min:.2f}x one copy of the "
        f"{len(pub)} records crossing ({cross_min / 1e6:.2f} MB); proxy accepted {px1['accepted']}, refused {px1['refused']}, cut {px1['cut']}")
    if cross_back:
        first = min(cross_back.values())
        log(f"   of which waiting for the first cross link to redial (backoff after the cut): {first:.1f} s; "
            f"from then to identical state: {t_ident - first:.1f} s")
    log(f"   goal convergence < 10 s: {t_ident:.1f} s: {goal(t_ident < 10 and same)}")
    log(f"   goal < 1.25x the minimal bytes: {rbytes / minimal:.2f}x: {goal(rbytes / minimal < 1.25)}")
    check_alive(nodes)
    stop_nodes(nodes)
    pp.terminate()
    pp.wait(timeout=10)
    return {"t_ident": t_ident, "t_equal": t_equal, "cross_back": cross_back, "rbytes": rbytes,
            "minimal": minimal, "ratio": rbytes / minimal, "rec_ratio": rec_ratio, "proxy": pxb,
            "cross_min": cross_min, "same": same}


def main():
    t0 = time.time()
    try:
        head = subprocess.run(["git", "-C", ROOT, "log", "-1", "--format=%h %s"], capture_output=True,
                              text=True).stdout.strip()[:100]
    except OSError:
        head = "?"
    built = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(os.path.getmtime(GIFD)))
    log(f"# build/gifd built {built} UTC; source HEAD {head}")
    log(f"# bench_network: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {os.cpu_count()} cores shared by every gifd "
        f"and this script (32 gifd on 2 cores: latencies include CPU contention, not network)")
    try:
        for n in SIZES:
            bench_propagation(n)
        if PART_N:
            bench_partition(PART_N)
    except Fatal as e:
        log(f"# FAILED: {e}")
        return 1
    log(f"# bench_network done in {time.time() - t0:.0f} s")
    return 0


sys.exit(main())
PY
