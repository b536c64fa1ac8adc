#!/usr/bin/env python3
"""Idle keep-alive connections: memory per connection, a fresh client's latency, RSS over a soak.

anx (--shards 2, both cores) and nginx (2 workers) in turn each hold N idle keep-alive
connections, opened from several loopback source addresses (127.0.0.2, .3, … so the
ephemeral ports of one address do not run out), each served one request and then left
idle. With all of them held:

  * the server's RSS growth over N is the user-space memory per idle connection;
  * `--probes` fresh clients connect one after another and time connect → full answer
    (p50, p99, max, in ms; the issue's bar is under 10 ms);
  * for `--soak` seconds a tenth of the idle connections send one request each second
    (so anx's parked connections wake and park again), and RSS is sampled every second:
    first, last, min and max are reported (it must stay flat).

Clients are worker processes holding at most 15,000 sockets each. N is capped by
RLIMIT_NOFILE: the server holds N sockets in one process, so N ≤ hard limit − 200. The
script says when it had to cap (this sandbox's hard limit is 20,000 without
CAP_SYS_RESOURCE; on a real edge node raise it with `ulimit -Hn` / LimitNOFILE).

Usage: perf/idle.py [--conns 100000] [--probes 200] [--soak 30] [--anx target/release/anx]
                    [--no-nginx] [--out FILE]
"""

import argparse
import datetime
import multiprocessing as mp
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import children, free_port, rss_kib, wait_port  # noqa: E402

PER_WORKER = 15000
REQUEST = b"GET /tiny HTTP/1.1\r\nHost: x\r\n\r\n"
ANSWER_END = b"hello"


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def read_answer(s):
    got = b""
    while ANSWER_END not in got:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed before the answer")
        got += chunk


def worker(port, source, count, ready, commands, results):
    """Holds `count` idle connections from `source`; on "poke" sends one request on a tenth."""
    raise_nofile()
    socks = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Ports are chosen at connect(): the 4-tuple, not the source address, must be unique.
        s.setsockopt(socket.SOL_IP, 24, 1)  # IP_BIND_ADDRESS_NO_PORT
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(REQUEST)
        socks.append(s)
    for s in socks:
        s.settimeout(30)
        read_answer(s)
    ready.put(count)
    turn = 0
    while True:
        cmd = commands.get()
        if cmd == "stop":
            break
        lost = 0
        tenth = socks[turn % 10::10]
        turn += 1
        for s in tenth:
            try:
                s.sendall(REQUEST)
                read_answer(s)
            except OSError:
                lost += 1
        results.put(lost)
    for s in socks:
        s.close()


def probe(port, n):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(REQUEST)
        read_answer(s)
        times.append((time.perf_counter() - t0) * 1000)
        s.close()
    times.sort()
    return (statistics.median(times), times[int(len(times) * 0.99) - 1], times[-1])


def run_server(name, cmd, port, conns, probes, soak):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=raise_nofile)
    try:
        wait_port(port)
        time.sleep(0.5)
        pids = children(proc.pid)
        before = rss_kib(pids)
        ready, results = mp.Queue(), mp.Queue()
        workers = []
        left, k = conns, 0
        while left > 0:
            n = min(PER_WORKER, left)
            commands = mp.Queue()
            p = mp.Process(target=worker, args=(port, f"127.0.0.{2 + k}", n, ready, commands, results))
            p.start()
            workers.append((p, commands))
            left -= n
            k += 1
        held = sum(ready.get(timeout=600) for _ in workers)
        # anx parks a connection idle for 250 ms and trims its heap at most once a second.
        time.sleep(2.0)
        after = rss_kib(pids)
        latency = probe(port, probes)
        samples, lost = [], 0
        for _ in range(soak):
            for _, commands in workers:
                commands.put("poke")
            lost += sum(results.get(timeout=120) for _ in workers)
            time.sleep(1.0)
            samples.append(rss_kib(pids))
        for p, commands in workers:
            commands.put("stop")
        for p, _ in workers:
            p.join(60)
        return {
            "name": name, "held": held, "before": before, "after": after,
            "per_conn": (after - before) * 1024 / max(held, 1), "latency": latency,
            "soak": samples, "lost": lost,
        }
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def anx_config(path, port, conns):
    with open(path, "w") as f:
        f.write(f"""
[main]
shards = 2
error_log_level = "error"
worker_connections = {conns + 1024}
[[server]]
listen = ["127.0.0.1:{port}"]
keepalive_timeout = "600s"
keepalive_requests = 1000000
[[server.location]]
path = "/tiny"
match = "exact"
default_type = "text/plain"
return = {{ status = 200, text = "hello" }}
""")


def nginx_config(path, tmp, port, conns):
    with open(path, "w") as f:
        f.write(f"""
daemon off;
master_process on;
worker_processes 2;
worker_rlimit_nofile {conns + 2048};
error_log {tmp}/nginx-error.log error;
pid {tmp}/nginx.pid;
events {{ worker_connections {conns + 1024}; }}
http {{
    access_log off;
    keepalive_timeout 600s;
    keepalive_requests 1000000;
    client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fcgi;
    uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port} reuseport;
        location = /tiny {{ default_type text/plain; return 200 "hello"; }}
    }}
}}
""")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--conns", type=int, default=100000)
    ap.add_argument("--probes", type=int, default=200)
    ap.add_argument("--soak", type=int, default=30)
    ap.add_argument("--anx", default="target/release/anx")
    ap.add_argument("--no-nginx", action="store_true")
    ap.add_argument("--out", default="")
    args = ap.parse_args()

    hard = raise_nofile()
    conns = args.conns
    note = ""
    if conns > hard - 200:
        conns = hard - 200
        note = (f"asked for {args.conns:,} connections; RLIMIT_NOFILE's hard limit here is "
                f"{hard:,} (one server process holds them all), so {conns:,} were held")
        print(note, file=sys.stderr)
    tmp = tempfile.mkdtemp(prefix="anx-idle-")
    rows = []
    port = free_port()
    anx_config(os.path.join(tmp, "anx.toml"), port, conns)
    rows.append(run_server("anx", [args.anx, "-c", os.path.join(tmp, "anx.toml")],
                           port, conns, args.probes, args.soak))
    if not args.no_nginx:
        port = free_port()
        nginx_config(os.path.join(tmp, "nginx.conf"), tmp, port, conns)
        rows.append(run_server("nginx", ["nginx", "-p", tmp, "-c", os.path.join(tmp, "nginx.conf")],
                               port, conns, args.probes, args.soak))

    lines = [f"# Idle keep-alive connections, {datetime.date.today()}", ""]
    if note:
        lines += [note + ".", ""]
    lines += [f"perf/idle.py: 2 shards / 2 workers, {args.probes} fresh clients while they are held, "
              f"{args.soak} s soak with a tenth of the connections sending one request per second.", "",
              "| server | idle connections | RSS before (KiB) | RSS with them (KiB) | per connection (bytes) "
              "| fresh client p50 / p99 / max (ms) | soak RSS first / last / min / max (KiB) | requests lost in soak |",
              "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        p50, p99, mx = r["latency"]
        soak = r["soak"] or [r["after"]]
        lines.append(f"| {r['name']} | {r['held']:,} | {r['before']:,} | {r['after']:,} | {r['per_conn']:,.0f} "
                     f"| {p50:.2f} / {p99:.2f} / {mx:.2f} | {soak[0]:,} / {soak[-1]:,} / {min(soak):,} / {max(soak):,} "
                     f"| {r['lost']} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
