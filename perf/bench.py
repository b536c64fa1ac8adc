#!/usr/bin/env python3
"""anx vs nginx, side by side in one run, on pinned cores.

Server on core 0 (anx --shards 1 under `taskset -c 0`; nginx with one worker under the same
taskset), wrk on core 1. Runs are interleaved (anx, nginx, nginx+open_file_cache, anx, ...)
and medians are reported with the spread and ratios. The server's CPU use during each run is
read from /proc so that a run where the server was not saturated is visible.

Usage: perf/bench.py [--runs 5] [--duration 5] [--anx target/release/anx] [--out FILE]
(perf/bench.sh builds anx, installs wrk and nginx, then calls this.)
"""

import argparse
import datetime
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

PIPELINE_LUA = """
init = function(args)
  local r = {}
  for i = 1, 16 do r[i] = wrk.format(nil, "/tiny") end
  req = table.concat(r)
end
request = function() return req end
"""

CLOSE_LUA = """
wrk.headers["Connection"] = "close"
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, deadline=15):
    end = time.time() + deadline
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total


def children(pid):
    out = [pid]
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            pass
        kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        out += [int(k) for k in kids]
    except OSError:
        pass
    return out


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def parse_latency(text, pct):
    m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if not m:
        return float("nan")
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v


def wrk(url, duration, conns, script=None):
    cmd = ["taskset", "-c", "1", "wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--latency"]
    if script:
        cmd += ["-s", script]
    cmd.append(url)
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock_err = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(m.group(1)) if m else 0.0,
        "p50": parse_latency(out, 50),
        "p99": parse_latency(out, 99),
        "non2xx": int(errors.group(1)) if errors else 0,
        "sockerr": sock_err.group(1) if sock_err else "",
        "raw": out,
    }


class Server:
    def __init__(self, name, cmd, port, env=None):
        self.name, self.port = name, port
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env=env, preexec_fn=raise_nofile)
        wait_port(port)
        time.sleep(0.3)

    def pids(self):
        return children(self.proc.pid)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def build_floor(tmp):
    """perf/floor/floor.c compiled into tmp; None (and a note) when cc or liburing is missing."""
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "floor", "floor.c")
    out = os.path.join(tmp, "floor")
    built = subprocess.run(["cc", "-O2", "-o", out, src, "-luring"], capture_output=True, text=True)
    if built.returncode != 0:
        print(f"floor server not built (apt-get install liburing-dev): {built.stderr.strip()}", file=sys.stderr)
        return None
    return out


# The floor answers every head with one fixed 200: it stands beside anx only where that is
# the whole job.
FLOOR_SCENARIOS = ("tiny (return 200)", "pipelined x16 (tiny)")


def raise_nofile():
    import resource
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (65536, 65536))
    except (ValueError, OSError):
        pass


def write_site(root):
    os.makedirs(root, exist_ok=True)
    for name, size in [("1k.bin", 1024), ("100k.bin", 100 * 1024), ("1m.bin", 1024 * 1024)]:
        with open(os.path.join(root, name), "wb") as f:
            f.write(os.urandom(size))
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write("<html>hello</html>\n")
    # The same 1 KiB file under /logged/, the location with the access log on.
    os.makedirs(os.path.join(root, "logged"), exist_ok=True)
    shutil.copy(os.path.join(root, "1k.bin"), os.path.join(root, "logged", "1k.bin"))


# The "access_log on" row: combined lines, buffered (64k, flushed every second) in both
# servers. The files are truncated after every run so that the disk does not fill.
def access_log_path(tmp, server):
    return os.path.join(tmp, f"{server}-access.log")


# Routing load: 40 prefix and 10 regex locations in front of the one the regex row hits, so
# the regex row pays a realistic location search (nginx tests regexes in order, as anx does).
ROUTING_PREFIXES = [f"/app{i}/" for i in range(40)]
ROUTING_REGEXES = [rf"^/re/[a-z]+/page-{i}\.html$" for i in range(10)]
REGEX_HIT = r"^/re/[a-z]+/item-\d+\.json$"


def anx_routing():
    out = []
    for p in ROUTING_PREFIXES:
        out.append(f'[[server.location]]\npath = "{p}"\nreturn = {{ status = 204 }}\n')
    for r in ROUTING_REGEXES + [REGEX_HIT]:
        out.append(f"[[server.location]]\npath = '{r}'\nmatch = \"regex\"\n"
                   f"default_type = \"text/plain\"\nreturn = {{ status = 200, text = \"re\" }}\n")
    return "".join(out)


def nginx_routing():
    out = []
    for p in ROUTING_PREFIXES:
        out.append(f"location {p} {{ return 204; }}\n")
    for r in ROUTING_REGEXES + [REGEX_HIT]:
        out.append(f'location ~ {r} {{ default_type text/plain; return 200 "re"; }}\n')
    return "".join(out)


def anx_config(path, tmp, root, port):
    with open(path, "w") as f:
        f.write(f"""
[main]
shards = 1
error_log_level = "error"
[[server]]
listen = ["127.0.0.1:{port}"]
root = "{root}"
default_type = "application/octet-stream"
[[server.location]]
path = "/"
[[server.location]]
path = "/tiny"
match = "exact"
default_type = "text/plain"
return = {{ status = 200, text = "hello" }}
[[server.location]]
path = "/logged/"
access_log = {{ path = "{access_log_path(tmp, 'anx')}", format = "combined", buffer = "64k", flush = "1s" }}
""" + anx_routing())


def nginx_config(path, tmp, root, port, open_file_cache, name):
    ofc = "open_file_cache max=1000 inactive=60s; open_file_cache_valid 60s;" if open_file_cache else ""
    with open(path, "w") as f:
        f.write(f"""
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 65536;
error_log {tmp}/nginx-error.log error;
pid {tmp}/nginx-{port}.pid;
events {{ worker_connections 20000; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fcgi;
    uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
    {ofc}
    server {{
        listen 127.0.0.1:{port} reuseport;
        root {root};
        location / {{ }}
        location = /tiny {{ default_type text/plain; return 200 "hello"; }}
        location /logged/ {{ access_log {access_log_path(tmp, name)} combined buffer=64k flush=1s; }}
        {nginx_routing()}
    }}
}}
""")


def idle_memory(server, conns=10000):
    """RSS growth of the server with `conns` idle keep-alive connections (each served once)."""
    import resource
    raise_nofile()
    before = rss_kib(server.pids())
    socks = []
    req = b"GET /tiny HTTP/1.1\r\nHost: x\r\n\r\n"
    for _ in range(conns):
        s = socket.create_connection(("127.0.0.1", server.port))
        s.sendall(req)
        socks.append(s)
    for s in socks:
        s.settimeout(10)
        got = b""
        while b"hello" not in got:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    # anx parks a connection idle for 250 ms and trims its heap at most once a second.
    time.sleep(2.0)
    after = rss_kib(server.pids())
    for s in socks:
        s.close()
    return before, after


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--anx", default="target/release/anx")
    ap.add_argument("--label", default="")
    ap.add_argument("--out", default="")
    ap.add_argument("--only", default="", help="comma-separated scenario names")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="anx-bench-")
    root = os.path.join(tmp, "www")
    write_site(root)
    for d in ["body", "proxy", "fcgi", "uwsgi", "scgi"]:
        os.makedirs(os.path.join(tmp, d), exist_ok=True)
    pipeline_lua = os.path.join(tmp, "pipeline.lua")
    close_lua = os.path.join(tmp, "close.lua")
    with open(pipeline_lua, "w") as f:
        f.write(PIPELINE_LUA)
    with open(close_lua, "w") as f:
        f.write(CLOSE_LUA)

    ports = {"anx": free_port(), "nginx": free_port(), "nginx+ofc": free_port()}
    anx_conf = os.path.join(tmp, "anx.toml")
    anx_config(anx_conf, tmp, root, ports["anx"])
    nginx_config(os.path.join(tmp, "nginx.conf"), tmp, root, ports["nginx"], False, "nginx")
    nginx_config(os.path.join(tmp, "nginx-ofc.conf"), tmp, root, ports["nginx+ofc"], True, "nginx+ofc")
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    floor_bin = build_floor(tmp)

    servers = {
        "anx": Server("anx", ["taskset", "-c", "0", args.anx, "-c", anx_conf, "--shards", "1"], ports["anx"]),
        "nginx": Server("nginx", ["taskset", "-c", "0", nginx_bin, "-c", os.path.join(tmp, "nginx.conf")], ports["nginx"]),
        "nginx+ofc": Server("nginx+ofc", ["taskset", "-c", "0", nginx_bin, "-c", os.path.join(tmp, "nginx-ofc.conf")], ports["nginx+ofc"]),
    }
    if floor_bin:
        ports["floor"] = free_port()
        servers["floor"] = Server("floor", ["taskset", "-c", "0", floor_bin, str(ports["floor"])], ports["floor"])

    scenarios = [
        ("tiny (return 200)", "/tiny", None),
        ("1 KiB file", "/1k.bin", None),
        ("1 KiB file, access_log on (buffered)", "/logged/1k.bin", None),
        ("100 KiB file", "/100k.bin", None),
        ("1 MiB file", "/1m.bin", None),
        ("404", "/missing", None),
        ("regex location hit (51 locations)", "/re/abc/item-42.json", None),
        ("keep-alive off (1 KiB)", "/1k.bin", close_lua),
        ("pipelined x16 (tiny)", "/tiny", pipeline_lua),
    ]
    if args.only:
        wanted = args.only.split(",")
        scenarios = [s for s in scenarios if any(w in s[0] for w in wanted)]

    results = {}
    try:
        for srv in servers.values():  # warm-up: page cache, connection setup paths
            wrk(f"http://127.0.0.1:{srv.port}/tiny", 2, args.conns)
        # Every run goes through all scenarios before the next run starts, so that rows
        # compared with each other (the 1 KiB file with the access log off and on) see the
        # same moments of a busy machine.
        for run in range(args.runs):
            for name, path, script in scenarios:
                for sname, srv in servers.items():
                    if sname == "floor" and name not in FLOOR_SCENARIOS:
                        continue
                    url = f"http://127.0.0.1:{srv.port}{path}"
                    t0 = cpu_ticks(srv.pids())
                    start = time.time()
                    r = wrk(url, args.duration, args.conns, script)
                    elapsed = time.time() - start
                    t1 = cpu_ticks(srv.pids())
                    r["cpu"] = (t1 - t0) / os.sysconf("SC_CLK_TCK") / elapsed
                    # Server CPU per request (µs): the figure to compare where wrk's one core,
                    # not the server, limits req/s.
                    r["us"] = r["cpu"] / r["rps"] * 1e6 if r["rps"] else 0.0
                    results.setdefault((name, sname), []).append(r)
                    log = access_log_path(tmp, sname)
                    if os.path.exists(log):
                        r["log_bytes"] = os.path.getsize(log)
                        os.truncate(log, 0)
                    logged = f"  log {r['log_bytes'] / 1e6:.1f} MB" if "log_bytes" in r else ""
                    print(f"{name:26} {sname:10} run {run + 1}: {r['rps']:>10.0f} req/s  p50 {r['p50']:.2f} ms  p99 {r['p99']:.2f} ms  server CPU {r['cpu'] * 100:.0f}%  {r['sockerr']}{logged}", file=sys.stderr)
        memory = {}
        if not args.only or "memory" in args.only:
            for sname in ["anx", "nginx"]:
                memory[sname] = idle_memory(servers[sname])
    finally:
        for srv in servers.values():
            srv.stop()

    lines = []
    date = datetime.date.today().isoformat()
    lines.append(f"# anx vs nginx — {date} {args.label}".rstrip())
    lines.append("")
    lines.append(f"Machine: {os.cpu_count()} cores, kernel {os.uname().release}; server on core 0, wrk -t1 -c{args.conns} -d{args.duration}s on core 1; {args.runs} interleaved runs, medians (min–max).")
    lines.append(f"nginx: `{subprocess.run([nginx_bin, '-v'], capture_output=True, text=True).stderr.strip()}`, 1 worker, access_log off, sendfile on, tcp_nopush on; nginx+ofc adds open_file_cache.")
    lines.append("The access_log row: both servers write `combined` lines with buffer=64k flush=1s (the others have the log off).")
    with open("/proc/loadavg") as f:
        lines.append(f"Load average at the end (other work on the machine): {f.read().split()[0:3]}.")
    lines.append("")
    lines.append("CPU per request is the server's CPU time over the requests wrk counted; floor is perf/floor/floor.c (io_uring, no user-space work), run for the tiny rows only.")
    lines.append("")
    lines.append("| scenario | anx req/s | nginx req/s | nginx+ofc req/s | anx/nginx | anx/nginx+ofc | p50 anx / nginx (ms) | p99 anx / nginx (ms) | server CPU anx / nginx | CPU µs/req anx / nginx / floor | anx CPU/req ÷ nginx, ÷ floor |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|")

    def med(name, s, key):
        return statistics.median(r[key] for r in results[(name, s)])

    def spread(name, s):
        v = [r["rps"] for r in results[(name, s)]]
        return f"{statistics.median(v):,.0f} ({min(v):,.0f}–{max(v):,.0f})"

    for name, _, _ in scenarios:
        a, n, o = (med(name, s, "rps") for s in ["anx", "nginx", "nginx+ofc"])
        ua, un = med(name, "anx", "us"), med(name, "nginx", "us")
        uf = med(name, "floor", "us") if (name, "floor") in results else None
        per_request = f"{ua:.2f} / {un:.2f} / {f'{uf:.2f}' if uf else '–'}"
        ratios = f"{ua / un if un else 0:.2f}×, {f'{ua / uf:.2f}×' if uf else '–'}"
        lines.append(
            f"| {name} | {spread(name, 'anx')} | {spread(name, 'nginx')} | {spread(name, 'nginx+ofc')} | "
            f"{a / n if n else 0:.2f}× | {a / o if o else 0:.2f}× | "
            f"{med(name, 'anx', 'p50'):.2f} / {med(name, 'nginx', 'p50'):.2f} | "
            f"{med(name, 'anx', 'p99'):.2f} / {med(name, 'nginx', 'p99'):.2f} | "
            f"{med(name, 'anx', 'cpu') * 100:.0f}% / {med(name, 'nginx', 'cpu') * 100:.0f}% | "
            f"{per_request} | {ratios} |"
        )
    if memory:
        lines.append("")
        lines.append("Idle keep-alive memory (10,000 connections, each served once, RSS of the server process):")
        lines.append("")
        lines.append("| server | RSS before (KiB) | RSS with 10k idle (KiB) | per connection (bytes) |")
        lines.append("|---|---|---|---|")
        for sname, (before, after) in memory.items():
            lines.append(f"| {sname} | {before:,} | {after:,} | {(after - before) * 1024 / 10000:,.0f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
