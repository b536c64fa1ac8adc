#!/usr/bin/env python3
"""anx vs nginx terminating TLS, side by side in one run, on pinned cores (issue 5).

Servers, each alone on core 0 while it is measured: anx built with aws-lc-rs, anx built
with ring (`--features ring`), both `--shards 1`, and nginx (Debian's, OpenSSL, 1 worker,
master_process off). They serve the same site from the same nginx.conf text: one
`listen … ssl` server with an ECDSA P-256 certificate, TLS 1.3 and 1.2, session tickets on,
`ssl_ecdh_curve X25519` (so both do the same key exchange whatever the client offers),
`location = /small { return 200 "hello world\\n"; }` (12 bytes) and a 1 MiB file /big.
The load generator runs on core 1.

Rows:
  full     new TCP connection and full TLS 1.3 handshake (X25519, ECDSA P-256) per request:
           examples/tls_handshakes.rs (anx's upstream rustls client), 16 threads, no session
           reuse
  resumed  the same with TLS 1.3 tickets (every connection after a thread's first resumes)
  small    /small over kept-alive TLS connections: wrk -c64 (OpenSSL client)
  big      /big (1 MiB) over kept-alive TLS connections: wrk -c8, throughput

On this 2-core machine the client needs about as much CPU per handshake as the server, so
the server cannot be saturated by handshakes: the figure that compares servers is work per
server CPU-second (utime+stime of the server from /proc/PID/stat before and after each run),
reported beside the plain rates. Runs are interleaved (anx-aws, anx-ring, nginx, anx-aws …);
medians (min–max) and ratios to nginx are written, with /proc/loadavg at each run since
other builds may share the machine.

Usage: perf/tls.py --anx A --anx-ring B --client C [--runs 5] [--duration 5] [--out FILE]
(perf/tls.sh builds the three binaries, then calls this.)
"""

import argparse
import datetime
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import free_port  # noqa: E402
from proxy import (CLK, Server, StartError, load_average, log, nginx_main,  # noqa: E402
                   temp_paths, user_sys_ticks, wrk)

BIG_SIZE = 1024 * 1024
SMALL_BODY = b"hello world\n"


def site_block(port, tmp, root):
    """The http block both servers read, word for word."""
    return f"""
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 600s;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name bench.test;
        ssl_certificate {tmp}/cert.pem;
        ssl_certificate_key {tmp}/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_tickets on;
        ssl_ecdh_curve X25519;
        root {root};
        location = /small {{ default_type text/plain; return 200 "hello world\\n"; }}
        location = /big {{ }}
    }}
"""


def write_configs(tmp, root, ports):
    for name in ("anx", "anx-ring"):
        with open(f"{tmp}/{name}.conf", "w") as f:
            f.write(f"""
worker_processes 1;
error_log {tmp}/{name}-error.log error;
pid {tmp}/{name}.pid;
events {{ worker_connections 20000; }}
http {{
{site_block(ports[name], tmp, root)}
}}
""")
    with open(f"{tmp}/nginx.conf", "w") as f:
        f.write(f"""
{nginx_main(tmp, "nginx", "error")}
http {{
    sendfile on;
{temp_paths(tmp, "n")}
{site_block(ports["nginx"], tmp, root)}
}}
""")


def make_certificate(tmp):
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "30", "-subj", "/CN=bench.test",
         "-addext", "subjectAltName=DNS:bench.test",
         "-keyout", f"{tmp}/key.pem", "-out", f"{tmp}/cert.pem"],
        check=True, capture_output=True)


def check(name, port):
    """/small must say hello world and /big be 1 MiB, over TLS 1.3 with the ECDSA cert."""
    out = subprocess.run(
        ["curl", "-sk", "--tlsv1.3", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
         f"https://127.0.0.1:{port}/big"], capture_output=True, text=True).stdout
    small = subprocess.run(["curl", "-sk", f"https://127.0.0.1:{port}/small"],
                           capture_output=True).stdout
    if out != f"200 {BIG_SIZE}" or small != SMALL_BODY:
        raise StartError(f"{name} on {port} serves wrongly: /big {out!r}, /small {small[:80]!r}")


def handshakes(client, port, duration, resume, threads):
    cmd = ["taskset", "-c", "1", client, f"127.0.0.1:{port}", "--threads", str(threads),
           "--seconds", str(duration), "--path", "/small"]
    if resume:
        cmd.append("--resume")
    out = subprocess.run(cmd, capture_output=True, text=True)
    m = re.search(r"handshakes=(\d+) resumed=(\d+) errors=(\d+) seconds=([\d.]+)", out.stdout)
    if not m:
        raise RuntimeError(f"tls_handshakes failed: {out.stdout} {out.stderr}")
    n, resumed, errors, secs = int(m[1]), int(m[2]), int(m[3]), float(m[4])
    return {"requests": n, "resumed": resumed, "errors": errors, "rps": n / secs}


def measured(server, scenario, args, port):
    """One run of `scenario` against `server`: the rate, and the server's CPU for it."""
    u0, s0 = user_sys_ticks(server.pid)
    load = load_average()
    start = time.time()
    if scenario == "full":
        r = handshakes(args.client, port, args.duration, False, args.threads)
    elif scenario == "resumed":
        r = handshakes(args.client, port, args.duration, True, args.threads)
    elif scenario == "small":
        r = wrk(f"https://127.0.0.1:{port}/small", args.duration, 64)
    else:
        r = wrk(f"https://127.0.0.1:{port}/big", args.duration, 8)
    elapsed = time.time() - start
    u1, s1 = user_sys_ticks(server.pid)
    cpu_s = (u1 - u0 + s1 - s0) / CLK
    n = r["requests"] or 1
    r["load"] = load
    r["cpu"] = cpu_s / elapsed
    r["per_cpu_s"] = n / cpu_s if cpu_s else float("nan")
    r["us_per_req"] = cpu_s / n * 1e6
    r["mib_s"] = r["rps"] * BIG_SIZE / 2**20 if scenario == "big" else float("nan")
    return r


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt(xs, f="{:,.0f}"):
    if not xs:
        return "–"
    return f"{f.format(med(xs))} ({f.format(min(xs))}–{f.format(max(xs))})"


SCENARIOS = {
    "full": ("full TLS 1.3 handshakes (ECDSA P-256, X25519), new connection per request",
             "per_cpu_s", "handshakes per server CPU-second"),
    "resumed": ("resumed TLS 1.3 handshakes (tickets), new connection per request",
                "per_cpu_s", "handshakes per server CPU-second"),
    "small": ("12 B `return 200` over kept-alive TLS, wrk -c64", "rps", "requests/s"),
    "big": ("1 MiB file over kept-alive TLS, wrk -c8", "mib_s", "MiB/s"),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--anx", required=True, help="anx built with aws-lc-rs")
    ap.add_argument("--anx-ring", default="", help="anx built with --features ring")
    ap.add_argument("--client", required=True, help="the tls_handshakes example binary")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--only", default="", help="comma-separated rows (full,resumed,small,big)")
    ap.add_argument("--out", default="")
    ap.add_argument("--label", default="")
    args = ap.parse_args()

    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    tmp = tempfile.mkdtemp(prefix="anx-tls-")
    root = os.path.join(tmp, "www")
    os.makedirs(root)
    with open(os.path.join(root, "big"), "wb") as f:
        f.write(os.urandom(BIG_SIZE))
    for d in ["n-body", "n-proxy", "n-fcgi", "n-uwsgi", "n-scgi"]:
        os.makedirs(os.path.join(tmp, d))
    make_certificate(tmp)
    names = ["anx", "anx-ring", "nginx"] if args.anx_ring else ["anx", "nginx"]
    ports = {n: free_port() for n in ["anx", "anx-ring", "nginx"]}
    write_configs(tmp, root, ports)
    log(f"configurations in {tmp}; load average {load_average()}")

    servers = {}
    try:
        for name in names:
            if name == "nginx":
                cmd = ["taskset", "-c", "0", nginx_bin, "-c", f"{tmp}/nginx.conf"]
            else:
                binary = args.anx if name == "anx" else args.anx_ring
                cmd = ["taskset", "-c", "0", binary, "--shards", "1", "-c", f"{tmp}/{name}.conf"]
            servers[name] = Server(name, cmd, ports[name], f"{tmp}/{name}.out")
            check(name, ports[name])
        rows = [s for s in SCENARIOS if not args.only or s in args.only.split(",")]
        results = {s: {n: [] for n in names} for s in rows}
        for scenario in rows:
            for i in range(args.runs):
                for name in names:
                    r = measured(servers[name], scenario, args, ports[name])
                    results[scenario][name].append(r)
                    log(f"{scenario:8} run {i + 1} {name:9} {r['rps']:9,.0f}/s  "
                        f"{r['per_cpu_s']:9,.0f}/CPU-s  cpu {r['cpu']:.0%}  "
                        f"{r['us_per_req']:7.1f} µs/req  load {r['load']}"
                        + (f"  errors {r['errors']}" if r.get("errors") else "")
                        + (f"  non-2xx {r['non2xx']}" if r.get("non2xx") else ""))
    finally:
        for s in servers.values():
            s.stop()

    out = report(results, names, args)
    print(out)
    if args.out:
        with open(args.out, "a") as f:
            f.write(out)


def report(results, names, args):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    loads = [float(r["load"].split()[0]) for s in results.values() for rs in s.values()
             for r in rs]
    lines = [f"\n## TLS, {now} {args.label}\n",
             f"{args.runs} interleaved runs of {args.duration} s per server and row; medians "
             f"(min–max). Server on core 0, client on core 1. 1-minute load average at the "
             f"start of the runs: {min(loads):.2f}–{max(loads):.2f}.\n"]
    for scenario, (title, key, unit) in SCENARIOS.items():
        if scenario not in results:
            continue
        lines.append(f"\n### {title}\n")
        # The handshake rows are already per server CPU-second: one ratio column is enough.
        both = key != "per_cpu_s"
        lines.append(f"| server | {unit} | rate/s | server CPU | server µs per request | "
                     f"vs nginx ({unit}) |" + (" vs nginx (per server CPU-second) |" if both else ""))
        lines.append("|---|---|---|---|---|---|" + ("---|" if both else ""))
        base = med([r[key] for r in results[scenario]["nginx"]])
        base_cpu = med([r["per_cpu_s"] for r in results[scenario]["nginx"]])
        for name in names:
            rs = results[scenario][name]
            val = [r[key] for r in rs]
            ratio = med(val) / base if base else float("nan")
            ratio_cpu = med([r["per_cpu_s"] for r in rs]) / base_cpu if base_cpu else float("nan")
            lines.append(
                f"| {name} | {fmt(val)} | {fmt([r['rps'] for r in rs])} | "
                f"{fmt([r['cpu'] * 100 for r in rs], '{:.0f}')} % | "
                f"{fmt([r['us_per_req'] for r in rs], '{:.1f}')} | **{ratio:.2f}×** |"
                + (f" **{ratio_cpu:.2f}×** |" if both else ""))
        if scenario in ("full", "resumed"):
            resumed = {n: sum(r["resumed"] for r in results[scenario][n]) for n in names}
            total = {n: sum(r["requests"] for r in results[scenario][n]) for n in names}
            errors = {n: sum(r["errors"] for r in results[scenario][n]) for n in names}
            lines.append("\nresumed / total (errors): " + ", ".join(
                f"{n} {resumed[n]:,}/{total[n]:,} ({errors[n]})" for n in names))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
