#!/usr/bin/env python3
"""anx vs nginx as reverse proxies, side by side in one run, on pinned cores (issue 4).

One backend (nginx, 1 worker, fixed responses: /small = `return 200 "hello world\\n"`,
/big = a 100 KiB static file with open_file_cache) on core 1, shared by both proxies.
In front of it, on core 0: anx (--shards 1) and nginx (1 worker), each with the same
`upstream backend { server …; keepalive 64; }` and `proxy_pass http://backend;
proxy_http_version 1.1; proxy_set_header Connection "";`. wrk on core 1 beside the backend.

Runs are interleaved (anx, nginx, anx, nginx …) per scenario; medians (min–max), ratios,
p50/p99, the proxy's and the backend's CPU (utime+stime from /proc over the run's wall time)
and rescheduling IPIs on core 0 per request are reported. A secondary latency row uses
wrk -c8 (wrk2 is not packaged in Debian, so no fixed-rate row).

  --syscalls   after the runs, per proxy: `perf stat` (raw_syscalls:sys_enter and io_uring
               submissions) over a wrk run of /small, divided by wrk's request count; and
               `strace -c -f` over a shorter run for the breakdown (strace slows the proxy,
               so only its per-request counts mean anything).
  --soak N     N seconds of /small load on anx alone, VmRSS sampled every 10 s; first, last
               and max RSS are reported (memory must stay flat).
  --no-anx     nginx only (a dry run of the tooling while anx cannot proxy yet).

Usage: perf/proxy.py [--runs 5] [--duration 5] [--anx target/release/anx] [--out FILE]
(perf/proxy.sh builds anx, installs wrk and nginx, then calls this.)
"""

import argparse
import datetime
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import cpu_ticks, free_port, parse_latency, raise_nofile, rss_kib  # noqa: E402


def user_sys_ticks(pid):
    """(utime, stime) of a process, all its threads included."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]), int(fields[12])
    except OSError:
        return 0, 0

SMALL_BODY = b"hello world\n"
BIG_SIZE = 100 * 1024
CLK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def wrk(url, duration, conns, core="1"):
    cmd = ["taskset", "-c", core, "wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--latency", url]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"^\s*(\d+) requests in", out, re.M)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock_err = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(m.group(1)) if m else 0.0,
        "requests": int(total.group(1)) if total else 0,
        "p50": parse_latency(out, 50),
        "p99": parse_latency(out, 99),
        "non2xx": int(errors.group(1)) if errors else 0,
        "sockerr": sock_err.group(1) if sock_err else "",
        "raw": out,
    }


def res_ipis(cpu=0):
    """Rescheduling interrupts received so far by `cpu`."""
    with open("/proc/interrupts") as f:
        for line in f:
            if line.strip().startswith("RES:"):
                return int(line.split()[1 + cpu])
    return 0


class StartError(RuntimeError):
    pass


class Server:
    """A process pinned with taskset; `port` must answer before it counts as started."""

    def __init__(self, name, cmd, port, logfile):
        self.name, self.port, self.logfile = name, port, logfile
        self.log = open(logfile, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     preexec_fn=raise_nofile)
        end = time.time() + 15
        while time.time() < end:
            if self.proc.poll() is not None:
                raise StartError(f"{name} exited with status {self.proc.returncode} at start:\n"
                                 + self.output())
            try:
                import socket
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            self.stop()
            raise StartError(f"{name}: nothing listening on {port} after 15 s:\n" + self.output())
        time.sleep(0.3)

    def output(self):
        self.log.flush()
        with open(self.logfile, "rb") as f:
            return f.read().decode(errors="replace")[-4000:]

    @property
    def pid(self):
        # taskset execs the program: the pid is the server's. nginx runs with
        # master_process off, so this is its only (worker) process; anx's threads are
        # counted in its /proc/PID/stat.
        return self.proc.pid

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# --- configurations ------------------------------------------------------------------------

def nginx_main(tmp, name, level):
    """The main context of an nginx instance: one worker in the foreground, its error log
    (at `level`) and pid file named after `name`."""
    return f"""daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 65536;
error_log {tmp}/{name}-error.log {level};
pid {tmp}/{name}.pid;
events {{ worker_connections 20000; }}"""


def temp_paths(tmp, prefix):
    """nginx's temporary directories, under `tmp` and named with `prefix`."""
    return f"""    client_body_temp_path {tmp}/{prefix}-body; proxy_temp_path {tmp}/{prefix}-proxy;
    fastcgi_temp_path {tmp}/{prefix}-fcgi; uwsgi_temp_path {tmp}/{prefix}-uwsgi; scgi_temp_path {tmp}/{prefix}-scgi;"""


def backend_config(path, tmp, root, port):
    with open(path, "w") as f:
        f.write(f"""
{nginx_main(tmp, "backend", "error")}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 600s;
    open_file_cache max=100 inactive=600s;
    open_file_cache_valid 600s;
    default_type application/octet-stream;
{temp_paths(tmp, "b")}
    server {{
        listen 127.0.0.1:{port} reuseport;
        root {root};
        location = /small {{ default_type text/plain; return 200 "hello world\\n"; }}
        location = /big {{ }}
    }}
}}
""")


def proxy_block(listen, backend_port):
    """The part both proxies share, word for word."""
    return f"""
    upstream backend {{
        server 127.0.0.1:{backend_port};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{listen};
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
"""


def front_common():
    return """
    access_log off;
    keepalive_requests 1000000;
"""


def anx_config(path, tmp, port, backend_port):
    with open(path, "w") as f:
        f.write(f"""
worker_processes 1;
error_log {tmp}/anx-error.log error;
pid {tmp}/anx.pid;
events {{ worker_connections 20000; }}
http {{
{front_common()}
{proxy_block(port, backend_port)}
}}
""")


def nginx_front_config(path, tmp, port, backend_port):
    # error_log at warn: nginx says there when a response was buffered to a temporary file.
    with open(path, "w") as f:
        f.write(f"""
{nginx_main(tmp, "front", "warn")}
http {{
{front_common()}
{temp_paths(tmp, "f")}
{proxy_block(port, backend_port)}
}}
""")


def check(name, port):
    """A proxied /small must say hello world and /big must be 100 KiB."""
    try:
        small = urllib.request.urlopen(f"http://127.0.0.1:{port}/small", timeout=5).read()
        big = urllib.request.urlopen(f"http://127.0.0.1:{port}/big", timeout=5).read()
    except Exception as e:  # noqa: BLE001 - any failure is reported the same way
        raise StartError(f"{name} on port {port} does not proxy: {e}")
    if small != SMALL_BODY or len(big) != BIG_SIZE:
        raise StartError(f"{name} on port {port} proxies wrongly: /small = {small[:80]!r}, "
                         f"/big = {len(big)} bytes")


# --- measurements --------------------------------------------------------------------------

def measured_run(front, backend, url, duration, conns):
    (u0, s0), b0, i0 = user_sys_ticks(front.pid), cpu_ticks([backend.pid]), res_ipis(0)
    start = time.time()
    r = wrk(url, duration, conns)
    elapsed = time.time() - start
    (u1, s1), b1, i1 = user_sys_ticks(front.pid), cpu_ticks([backend.pid]), res_ipis(0)
    r["cpu"] = (u1 - u0 + s1 - s0) / CLK / elapsed
    # CPU time per request, user and kernel: unlike req/s, it does not fall when another
    # process takes the proxy's core for a while.
    n = r["requests"] or 1
    r["us_user"] = (u1 - u0) / CLK / n * 1e6
    r["us_sys"] = (s1 - s0) / CLK / n * 1e6
    r["bcpu"] = (b1 - b0) / CLK / elapsed
    r["ipi"] = (i1 - i0) / r["requests"] if r["requests"] else float("nan")
    return r


def syscall_counts(front, url, duration, conns):
    """perf stat over one wrk run: syscalls and io_uring submissions per request."""
    if not shutil.which("perf"):
        return None
    out = os.path.join(tempfile.gettempdir(), f"anx-proxy-perf-{front.name}.txt")
    events = "raw_syscalls:sys_enter,io_uring:io_uring_submit_req,syscalls:sys_enter_io_uring_enter"
    p = subprocess.Popen(["perf", "stat", "-x,", "-o", out, "-e", events, "-p", str(front.pid)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    r = wrk(url, duration, conns)
    time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    p.wait(10)
    counts = {}
    with open(out) as f:
        for line in f:
            parts = line.strip().split(",")
            if len(parts) >= 3 and parts[0].replace(".", "").isdigit():
                counts[parts[2]] = float(parts[0])
    n = r["requests"] or 1
    return {
        "requests": r["requests"],
        "syscalls": counts.get("raw_syscalls:sys_enter", float("nan")) / n,
        "uring_sqes": counts.get("io_uring:io_uring_submit_req", float("nan")) / n,
        "uring_enter": counts.get("syscalls:sys_enter_io_uring_enter", float("nan")) / n,
    }


def strace_breakdown(front, url, duration, conns):
    """strace -c -f over one wrk run: the syscalls by name, per request."""
    if not shutil.which("strace"):
        return None
    out = os.path.join(tempfile.gettempdir(), f"anx-proxy-strace-{front.name}.txt")
    p = subprocess.Popen(["strace", "-c", "-f", "-o", out, "-p", str(front.pid)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    r = wrk(url, duration, conns)
    time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    p.wait(10)
    n = r["requests"] or 1
    rows = []
    with open(out) as f:
        for line in f:
            parts = line.split()
            # % time, seconds, usecs/call, calls, [errors], syscall
            if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
                calls = int(parts[3])
                errors = int(parts[4]) if len(parts) == 6 else 0
                rows.append((parts[-1], calls / n, errors / n))
    rows.sort(key=lambda x: -x[1])
    return {"requests": r["requests"], "rps": r["rps"], "rows": rows}


def profile(front, url, duration, conns, top=12):
    """perf record (cpu-clock) over one wrk run: the proxy's hottest symbols."""
    if not shutil.which("perf"):
        return None
    data = os.path.join(tempfile.gettempdir(), f"anx-proxy-{front.name}.perf.data")
    p = subprocess.Popen(["perf", "record", "-q", "-F", "999", "-e", "cpu-clock", "-o", data,
                          "-p", str(front.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    wrk(url, duration, conns)
    p.send_signal(signal.SIGINT)
    p.wait(10)
    out = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "dso,symbol",
                          "--stdio"], capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[[.k]\]\s+(.+?)(\s{2,}|$)", line)
        if m:
            rows.append((float(m.group(1)), m.group(2), m.group(3)))
    return rows[:top]


def soak(front, url, seconds, conns, interval=10):
    """Load for `seconds`, sampling the front's VmRSS every `interval` s."""
    samples = [(0.0, rss_kib([front.pid]))]
    cmd = ["taskset", "-c", "1", "wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", url]
    start = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    t0 = cpu_ticks([front.pid])
    while p.poll() is None:
        time.sleep(interval - ((time.time() - start) % interval))
        if p.poll() is None:
            samples.append((time.time() - start, rss_kib([front.pid])))
            log(f"soak {samples[-1][0]:6.0f} s  RSS {samples[-1][1]:,} KiB")
    out = p.stdout.read()
    elapsed = time.time() - start
    cpu = (cpu_ticks([front.pid]) - t0) / CLK / elapsed
    time.sleep(1)
    samples.append((time.time() - start, rss_kib([front.pid])))
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"^\s*(\d+) requests in", out, re.M)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "samples": samples,
        "rps": float(m.group(1)) if m else 0.0,
        "requests": int(total.group(1)) if total else 0,
        "non2xx": int(errors.group(1)) if errors else 0,
        "p99": parse_latency(out, 99),
        "cpu": cpu,
    }


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--latency-conns", type=int, default=8)
    ap.add_argument("--anx", default="target/release/anx")
    ap.add_argument("--label", default="")
    ap.add_argument("--out", default="")
    ap.add_argument("--only", default="", help="comma-separated scenario names (small, big, c8)")
    ap.add_argument("--syscalls", action="store_true")
    ap.add_argument("--profile", action="store_true", help="perf record each proxy on /small")
    ap.add_argument("--soak", type=int, default=0, help="seconds of soak on anx (0: none)")
    ap.add_argument("--no-anx", action="store_true", help="nginx only (dry run)")
    ap.add_argument("--no-table", action="store_true", help="skip the interleaved runs")
    args = ap.parse_args()

    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    tmp = tempfile.mkdtemp(prefix="anx-proxy-")
    root = os.path.join(tmp, "www")
    os.makedirs(root)
    with open(os.path.join(root, "big"), "wb") as f:
        f.write(os.urandom(BIG_SIZE))
    for d in ["b-body", "b-proxy", "b-fcgi", "b-uwsgi", "b-scgi",
              "f-body", "f-proxy", "f-fcgi", "f-uwsgi", "f-scgi"]:
        os.makedirs(os.path.join(tmp, d))

    ports = {"backend": free_port(), "anx": free_port(), "nginx": free_port()}
    backend_config(f"{tmp}/backend.conf", tmp, root, ports["backend"])
    anx_config(f"{tmp}/anx.conf", tmp, ports["anx"], ports["backend"])
    nginx_front_config(f"{tmp}/front.conf", tmp, ports["nginx"], ports["backend"])
    log(f"configurations in {tmp}; load average {load_average()}")

    started = []
    try:
        backend = Server("backend", ["taskset", "-c", "1", nginx_bin, "-c", f"{tmp}/backend.conf"],
                         ports["backend"], f"{tmp}/backend.out")
        started.append(backend)
        fronts = {}
        fronts["nginx"] = Server("nginx", ["taskset", "-c", "0", nginx_bin, "-c", f"{tmp}/front.conf"],
                                 ports["nginx"], f"{tmp}/front.out")
        started.append(fronts["nginx"])
        check("nginx", ports["nginx"])
        if not args.no_anx:
            if not os.access(args.anx, os.X_OK):
                raise StartError(f"anx binary {args.anx} not found (build it, or pass --anx)")
            fronts = {"anx": None, **fronts}
            fronts["anx"] = Server("anx", ["taskset", "-c", "0", args.anx, "-c", f"{tmp}/anx.conf",
                                           "--shards", "1"], ports["anx"], f"{tmp}/anx.out")
            started.append(fronts["anx"])
            check("anx", ports["anx"])
        return run(args, tmp, nginx_bin, backend, fronts, ports)
    except StartError as e:
        log(f"proxy.py: {e}")
        return 2
    finally:
        for srv in reversed(started):
            srv.stop()


def run(args, tmp, nginx_bin, backend, fronts, ports):
    scenarios = [
        ("small (12 B), c64", "/small", args.conns),
        ("big (100 KiB), c64", "/big", args.conns),
        (f"small, c{args.latency_conns} (latency)", "/small", args.latency_conns),
    ]
    if args.only:
        wanted = args.only.split(",")
        scenarios = [s for s in scenarios if any(w in s[0] for w in wanted)]
    if args.no_table:
        scenarios = []
    loads = [load_average()]

    def url(name, path):
        return f"http://127.0.0.1:{ports[name]}{path}"

    results = {}
    for name in fronts:  # warm-up: upstream pools, page cache
        for path in ["/small", "/big"]:
            wrk(url(name, path), 2, args.conns)
    for sname, path, conns in scenarios:
        for i in range(args.runs):
            for name, front in fronts.items():
                r = measured_run(front, backend, url(name, path), args.duration, conns)
                results.setdefault((sname, name), []).append(r)
                log(f"{sname:24} {name:6} run {i + 1}: {r['rps']:>9.0f} req/s  p50 {r['p50']:.2f} ms  "
                    f"p99 {r['p99']:.2f} ms  proxy CPU {r['cpu'] * 100:3.0f}% "
                    f"({r['us_user']:.1f}+{r['us_sys']:.1f} us/req)  backend CPU "
                    f"{r['bcpu'] * 100:3.0f}%  RES/req {r['ipi']:.3f}  {r['sockerr']}"
                    f"{'  non-2xx ' + str(r['non2xx']) if r['non2xx'] else ''}")
    loads.append(load_average())

    sys_counts, straces = {}, {}
    if args.syscalls:
        for name, front in fronts.items():
            sys_counts[name] = syscall_counts(front, url(name, "/small"), args.duration, args.conns)
            log(f"{name}: perf stat {sys_counts[name]}")
        for name, front in fronts.items():
            straces[name] = strace_breakdown(front, url(name, "/small"), 3, args.conns)
            if straces[name]:
                log(f"{name}: strace " + ", ".join(f"{s} {c:.2f}" for s, c, _ in straces[name]["rows"][:8]))
        loads.append(load_average())

    profiles = {}
    if args.profile:
        for name, front in fronts.items():
            for path in ["/small", "/big"]:
                profiles[(name, path)] = profile(front, url(name, path), args.duration, args.conns)

    soak_result = None
    if args.soak and "anx" in fronts:
        for name, front in fronts.items():
            if name != "anx":
                front.stop()  # anx alone on core 0
        soak_result = soak(fronts["anx"], url("anx", "/small"), args.soak, args.conns)
        loads.append(load_average())

    temp_files = 0
    try:
        with open(f"{tmp}/front-error.log") as f:
            temp_files = sum("buffered to a temporary file" in line for line in f)
    except OSError:
        pass

    text = report(args, nginx_bin, fronts, scenarios, results, sys_counts, straces, soak_result,
                  loads, temp_files, profiles)
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write(text + "\n")
    return 0


def report(args, nginx_bin, fronts, scenarios, results, sys_counts, straces, soak_result, loads,
           temp_files, profiles):
    date = datetime.date.today().isoformat()
    nginx_v = subprocess.run([nginx_bin, "-v"], capture_output=True, text=True).stderr.strip()
    wrk_v = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0].strip()
    names = list(fronts)
    other = "nginx"
    lines = [f"# anx vs nginx as reverse proxies — {date} {args.label}".rstrip(), ""]
    lines.append(f"Machine: {os.cpu_count()} cores, kernel {os.uname().release}; proxy on core 0; "
                 f"backend (nginx, 1 worker, `return 200 \"hello world\\n\"` and a 100 KiB file with "
                 f"open_file_cache) and wrk -t1 on core 1; "
                 + (f"-d{args.duration}s, {args.runs} interleaved runs, medians (min–max). "
                    if scenarios else "")
                 + f"Load average (1/5/15 min) at the start and after each part: "
                 f"{' → '.join(loads)}.")
    lines.append(f"nginx: `{nginx_v}`, 1 worker (master_process off); {wrk_v}. Both proxies: "
                 "`upstream backend { server …; keepalive 64; }`, `proxy_pass http://backend; "
                 "proxy_http_version 1.1; proxy_set_header Connection \"\";`, `access_log off`, "
                 "`keepalive_requests 1000000` for clients, everything else default "
                 "(nginx: proxy_buffering on, proxy_buffers 8 4k).")
    if temp_files:
        lines.append(f"nginx buffered {temp_files} responses to a temporary file (error log).")
    lines.append("")
    if scenarios:
        if len(names) > 1:
            lines.append("| scenario | anx req/s | nginx req/s | anx/nginx | p50 anx / nginx (ms) | "
                         "p99 anx / nginx (ms) | proxy CPU anx / nginx | backend CPU anx / nginx | "
                         "proxy CPU µs/req user+sys anx / nginx | RES IPIs/req core 0 anx / nginx |")
            lines.append("|---|---|---|---|---|---|---|---|---|---|")
        else:
            lines.append("| scenario | nginx req/s | p50 (ms) | p99 (ms) | proxy CPU | backend CPU |")
            lines.append("|---|---|---|---|---|---|")

    def med(sname, n, key):
        return statistics.median(r[key] for r in results[(sname, n)])

    def spread(sname, n):
        v = [r["rps"] for r in results[(sname, n)]]
        return f"{statistics.median(v):,.0f} ({min(v):,.0f}–{max(v):,.0f})"

    def cpu_per_req(sname, n):
        u, k = med(sname, n, "us_user"), med(sname, n, "us_sys")
        return f"{u + k:.1f} ({u:.1f}+{k:.1f})"

    for sname, _, _ in scenarios:
        if len(names) > 1:
            a, n = med(sname, "anx", "rps"), med(sname, other, "rps")
            lines.append(
                f"| {sname} | {spread(sname, 'anx')} | {spread(sname, other)} | "
                f"{a / n if n else 0:.2f}× | "
                f"{med(sname, 'anx', 'p50'):.2f} / {med(sname, other, 'p50'):.2f} | "
                f"{med(sname, 'anx', 'p99'):.2f} / {med(sname, other, 'p99'):.2f} | "
                f"{med(sname, 'anx', 'cpu') * 100:.0f}% / {med(sname, other, 'cpu') * 100:.0f}% | "
                f"{med(sname, 'anx', 'bcpu') * 100:.0f}% / {med(sname, other, 'bcpu') * 100:.0f}% | "
                f"{cpu_per_req(sname, 'anx')} / {cpu_per_req(sname, other)} | "
                f"{med(sname, 'anx', 'ipi'):.3f} / {med(sname, other, 'ipi'):.3f} |")
        else:
            lines.append(f"| {sname} | {spread(sname, other)} | {med(sname, other, 'p50'):.2f} | "
                         f"{med(sname, other, 'p99'):.2f} | {med(sname, other, 'cpu') * 100:.0f}% | "
                         f"{med(sname, other, 'bcpu') * 100:.0f}% |")
    unsaturated = [(k, r) for k, rs in results.items() for r in rs if r["cpu"] < 0.9]
    if unsaturated:
        lines.append("")
        lines.append("Runs where the proxy's core was not saturated (< 90 % CPU: another process "
                     "had the core, or the client side was the limit): " + "; ".join(
                         f"{k[0]} {k[1]} {r['rps']:,.0f} req/s at {r['cpu'] * 100:.0f} %"
                         for k, r in unsaturated) + ".")
    bad = [(k, r) for k, rs in results.items() for r in rs if r["non2xx"] or r["sockerr"]]
    if bad:
        lines.append("")
        lines.append("Runs with errors: " + "; ".join(
            f"{k[0]} {k[1]}: non-2xx {r['non2xx']} {r['sockerr']}".strip() for k, r in bad))
    if sys_counts:
        lines.append("")
        lines.append(f"Syscalls per request, /small c{args.conns} (`perf stat -e raw_syscalls:sys_enter,"
                     "io_uring:io_uring_submit_req,syscalls:sys_enter_io_uring_enter -p PID` over one "
                     f"{args.duration} s wrk run; io_uring operations are not syscalls and are "
                     "counted apart):")
        lines.append("")
        lines.append("| proxy | requests | syscalls/req | io_uring SQEs/req | io_uring_enter/req |")
        lines.append("|---|---|---|---|---|")
        for n, c in sys_counts.items():
            if c:
                lines.append(f"| {n} | {c['requests']:,} | {c['syscalls']:.2f} | {c['uring_sqes']:.2f} | "
                             f"{c['uring_enter']:.2f} |")
    if straces:
        lines.append("")
        lines.append("Syscall breakdown per request (`strace -c -f -p PID` over a 3 s wrk run; "
                     "strace slows the proxy, so only the per-request counts matter):")
        lines.append("")
        for n, s in straces.items():
            if s:
                calls = ", ".join(f"{name} {c:.2f}" + (f" ({e:.2f} failed)" if e >= 0.01 else "")
                                  for name, c, e in s["rows"] if c >= 0.01)
                lines.append(f"- {n} ({s['requests']:,} requests): {calls}")
    for (n, path), rows in profiles.items():
        if rows:
            lines.append("")
            lines.append(f"Profile of {n} on {path} (`perf record -e cpu-clock`, share of the proxy's "
                         "samples): " + "; ".join(f"{sym} ({dso}) {pct:.1f}%" for pct, dso, sym in rows))
    if soak_result:
        s = soak_result["samples"]
        rss = [v for _, v in s]
        lines.append("")
        lines.append(f"Soak: anx alone, /small, wrk -c{args.conns} for {args.soak} s "
                     f"({soak_result['requests']:,} requests, {soak_result['rps']:,.0f} req/s, "
                     f"p99 {soak_result['p99']:.2f} ms, non-2xx {soak_result['non2xx']}, "
                     f"anx CPU {soak_result['cpu'] * 100:.0f}%); VmRSS every 10 s:")
        lines.append("")
        lines.append("| RSS before load (KiB) | first sample under load | last under load | "
                     "max | after load | samples |")
        lines.append("|---|---|---|---|---|---|")
        under = rss[1:-1] or rss
        lines.append(f"| {rss[0]:,} | {under[0]:,} | {under[-1]:,} | {max(rss):,} | {rss[-1]:,} | "
                     f"{len(s)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
