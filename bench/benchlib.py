"""benchlib.py — the bench/*.sh scripts' helpers that need more than sh: API setup over
keep-alive connections, polling /metrics with millisecond timing, counting rows, joining
latency logs, percentiles, bulk-inserting a backlog. Python 3 standard library only.

Usage: python3 benchlib.py COMMAND ARGS…  (each command documents its arguments below).
"""
import http.client
import json
import os
import sqlite3
import sys
import threading
import time
import uuid


def api(conn, method, path, token, body=None, account=None):
    """(status, parsed JSON or None) of one call on a keep-alive connection (in ACCOUNT,
    X-Account-Id, when given)."""
    headers = {"Authorization": "Bearer " + token}
    if account:
        headers["X-Account-Id"] = account
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=headers)
    r = conn.getresponse()
    raw = r.read()
    try:
        return r.status, json.loads(raw) if raw else None
    except ValueError:
        return r.status, None


def run_threads(work, threads, failures):
    """Runs work(k) for k in 0..threads-1 at once; exits with the first failure reported."""
    ts = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if failures:
        sys.exit("benchlib: " + failures[0])


def cmd_destinations(port, token, count, url_template, threads="8", events="events.created"):
    """Creates COUNT destinations (URL_TEMPLATE with {i} replaced) and activates them,
    THREADS connections at once. Prints the ids, one a line."""
    port, count, threads = int(port), int(count), int(threads)
    ids = [None] * count
    failures = []

    def work(start):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for i in range(start, count, threads):
            body = {"name": "bench-%d" % i, "url": url_template.replace("{i}", str(i)),
                    "events": events.split(",")}
            st, d = api(conn, "POST", "/v1/destinations", token, body)
            if st != 201:
                failures.append("create %d: %s %s" % (i, st, d))
                return
            st, _ = api(conn, "POST", "/v1/destinations/%s/activate" % d["id"], token)
            if st != 200:
                failures.append("activate %d: %s" % (i, st))
                return
            ids[i] = d["id"]
        conn.close()

    run_threads(work, threads, failures)
    print("\n".join(ids))


def cmd_accounts(port, token, accounts, per, url_template, threads="8"):
    """Creates ACCOUNTS accounts (acct-0 …) with PER active destinations each (URL_TEMPLATE
    with {i} replaced by a running number), subscribed to events.created, THREADS
    connections at once: the crowd the one measured account lives among."""
    port, accounts, per, threads = int(port), int(accounts), int(per), int(threads)
    failures = []

    def work(start):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for a in range(start, accounts, threads):
            acct = "acct-%d" % a
            st, _ = api(conn, "POST", "/v1/accounts", token, {"id": acct, "name": acct})
            if st != 201:
                failures.append("account %d: %s" % (a, st))
                return
            for k in range(per):
                body = {"name": "crowd-%d" % k, "url": url_template.replace("{i}", str(a * per + k)),
                        "events": ["events.created"]}
                st, d = api(conn, "POST", "/v1/destinations", token, body, acct)
                if st != 201:
                    failures.append("create %s/%d: %s %s" % (acct, k, st, d))
                    return
                st, _ = api(conn, "POST", "/v1/destinations/%s/activate" % d["id"], token,
                            None, acct)
                if st != 200:
                    failures.append("activate %s/%d: %s" % (acct, k, st))
                    return
        conn.close()

    run_threads(work, threads, failures)


def cmd_event_latency(port, token, count, per_event, timeout="30"):
    """Posts COUNT events one after the other, each waiting until its PER_EVENT webhooks
    have succeeded (GET /v1/events/{id}, polled every 2 ms: one indexed read, unlike the
    /metrics counts). Prints 'p50_ms p90_ms max_ms' of the time from the POST to the last
    of an event's webhooks delivered."""
    count, per_event, timeout = int(count), int(per_event), float(timeout)
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
    times = []
    for i in range(count):
        start = time.time()
        st, ev = api(conn, "POST", "/v1/events", token,
                     {"event": "events.created", "data": {"id": i, "calendar_id": 7}})
        if st != 202 or len(ev["webhooks"]) != per_event:
            sys.exit("benchlib: event %d: %s %s" % (i, st, ev))
        while True:
            st, got = api(conn, "GET", "/v1/events/" + ev["id"], token)
            if st == 200 and all(w["status"] == "succeeded" for w in got["webhooks"]):
                break
            if time.time() - start > timeout:
                sys.exit("benchlib: event %d not delivered within %.0f s" % (i, timeout))
            time.sleep(0.002)
        times.append((time.time() - start) * 1000)
    p50, p90, top = percentiles(times, (50, 90, 100))
    print("%.1f %.1f %.1f" % (p50, p90, top))


def cmd_post_events(port, token, count, threads="4"):
    """Posts COUNT events (events.created) over THREADS keep-alive connections; exits
    non-zero unless every one was accepted (202)."""
    port, count, threads = int(port), int(count), int(threads)
    failures = []

    def work(start):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for i in range(start, count, threads):
            st, _ = api(conn, "POST", "/v1/events", token,
                        {"event": "events.created", "data": {"id": i, "calendar_id": 7}})
            if st != 202:
                failures.append("event %d: %s" % (i, st))
                return
        conn.close()

    run_threads(work, threads, failures)


def metric(port, name):
    """The value of the first /metrics line starting with NAME (a full series name)."""
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def cmd_metric(port, name):
    """Prints one metric's value."""
    v = metric(port, name)
    print("%d" % v if v is not None else "")


def cmd_wait_metric(port, name, target, timeout, start_ms=None):
    """Waits until metric NAME reaches TARGET (at most TIMEOUT seconds, polled every 10 ms).
    Prints 'elapsed_ms value': the time since START_MS (epoch ms; default: now)."""
    target, timeout = float(target), float(timeout)
    start = float(start_ms) / 1000 if start_ms else time.time()
    deadline = time.time() + timeout
    v = None
    while time.time() < deadline:
        v = metric(port, name)
        if v is not None and v >= target:
            break
        time.sleep(0.01)
    print("%.0f %d" % ((time.time() - start) * 1000, v or 0))


def cmd_wait_lines(path, target, timeout):
    """Waits until the file PATH (an access log being written) has TARGET lines, at most
    TIMEOUT seconds, polled every 50 ms. Prints 1 when it got there, 0 when not."""
    target, deadline = int(target), time.time() + float(timeout)
    lines, pos = 0, 0
    while True:
        try:
            with open(path, "rb") as f:
                f.seek(pos)
                chunk = f.read()
            # Count whole lines only; a partly written one is read again next time.
            end = chunk.rfind(b"\n") + 1
            lines += chunk.count(b"\n", 0, end)
            pos += end
        except FileNotFoundError:
            pass
        if lines >= target or time.time() >= deadline:
            break
        time.sleep(0.05)
    print(1 if lines >= target else 0)


def cmd_fsync_floor(path, seconds):
    """The disk's floor for a durable answer: a bare loop of 4 KiB appends + fdatasync on
    PATH for SECONDS. Prints 'N fdatasync/s (U us each)'."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    block, n, t0 = b"x" * 4096, 0, time.monotonic()
    while time.monotonic() - t0 < float(seconds):
        os.write(fd, block)
        os.fdatasync(fd)
        n += 1
    dt = time.monotonic() - t0
    os.close(fd)
    print("%.0f fdatasync/s (%.0f us each)" % (n / dt, dt / n * 1e6))


def cmd_now_ms():
    print("%d" % int(time.time() * 1000))


def cmd_count(db, sql):
    """Prints the single number a query on the SQLite file DB answers."""
    c = sqlite3.connect(db, timeout=30)
    print(c.execute(sql).fetchone()[0])
    c.close()


def percentiles(values, ps=(50, 90, 99, 99.9)):
    s = sorted(values)
    if not s:
        return [0.0 for _ in ps]
    return [s[min(len(s) - 1, int(len(s) * p / 100.0))] for p in ps]


def cmd_latency_join(client_log, nginx_log, out_hist=None):
    """Joins the client's '202_ms webhook_id…' lines with nginx's 'msec webhook_id status'
    lines. Prints 'matched missing p50 p90 p99 p99.9 max' (ms); with OUT_HIST, writes
    'latency_ms cumulative_fraction' lines for a plot."""
    sent = {}
    with open(client_log) as f:
        for line in f:
            parts = line.split()
            for wid in parts[1:]:
                sent[wid] = float(parts[0])
    lat = []
    with open(nginx_log) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[1] in sent:
                # $msec is truncated to the ms: +1 ms makes each figure an upper bound.
                lat.append(max(0.0, float(parts[0]) * 1000 + 1 - sent.pop(parts[1])))
    p = percentiles(lat)
    print("%d %d %.1f %.1f %.1f %.1f %.1f" % (len(lat), len(sent), p[0], p[1], p[2], p[3],
                                              max(lat) if lat else 0))
    if out_hist:
        write_cdf(lat, out_hist)


def write_cdf(values, path):
    s = sorted(values)
    n = len(s)
    with open(path, "w") as f:
        step = max(1, n // 2000)
        for i in range(0, n, step):
            f.write("%.3f %.5f\n" % (s[i], (i + 1) / n))
        if n:
            f.write("%.3f 1.0\n" % s[-1])


def cmd_backlog(db, events, dest_ids_file, body_template):
    """Inserts EVENTS events, each with one pending webhook per destination listed in
    DEST_IDS_FILE, straight into the serve schema (as POST /v1/events would), due now."""
    events = int(events)
    dests = [x.strip() for x in open(dest_ids_file) if x.strip()]
    c = sqlite3.connect(db, timeout=60)
    c.execute("PRAGMA synchronous=OFF")
    now = int(time.time() * 1000)
    batch = 10000
    for start in range(0, events, batch):
        ev, wh = [], []
        for i in range(start, min(events, start + batch)):
            eid = str(uuid.uuid4())
            ev.append((eid, "events.created", body_template.replace("{i}", str(i)), now))
            for d in dests:
                wh.append((str(uuid.uuid4()), eid, d, "pending", 0, 0, now, now, now))
        c.executemany("INSERT INTO serve_events (id, type, body, created_at) VALUES (?,?,?,?)", ev)
        c.executemany("INSERT INTO serve_webhooks (id, event_id, destination_id, status, "
                      "attempt_count, round_attempts, next_attempt_at, created_at, updated_at) "
                      "VALUES (?,?,?,?,?,?,?,?,?)", wh)
        c.commit()
    c.close()


def cmd_cdf(infile, column, outfile):
    """Writes the CDF of column COLUMN (0-based) of INFILE's numeric lines to OUTFILE."""
    col = int(column)
    vals = []
    with open(infile) as f:
        for line in f:
            parts = line.split()
            if len(parts) > col:
                try:
                    vals.append(float(parts[col]))
                except ValueError:
                    pass
    write_cdf(vals, outfile)


def cmd_blackhole(port):
    """Listens on PORT, accepts every connection, and never answers (until killed)."""
    import socket
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(port)))
    s.listen(1024)
    held = []
    while True:
        c, _ = s.accept()
        held.append(c)


def cmd_wait_metrics(ports, name, target, timeout, start_ms=None):
    """As wait-metric, but over several nodes: PORTS is comma-separated and the value is the
    sum of NAME over them (a node that does not answer counts 0)."""
    target, timeout = float(target), float(timeout)
    start = float(start_ms) / 1000 if start_ms else time.time()
    deadline = time.time() + timeout
    total = 0.0
    while time.time() < deadline:
        total = 0.0
        for p in ports.split(","):
            try:
                total += metric(p, name) or 0
            except OSError:
                pass
        if total >= target:
            break
        time.sleep(0.01)
    print("%.0f %d" % ((time.time() - start) * 1000, total))


def cmd_merge_wrk(*files):
    """Merges the RESULT and CDF lines of wrk runs made side by side (wrk-signed.lua or
    wrk-events.lua output). Prints 'requests/s p50_ms p99_ms errors ok_2xx': the rates
    summed, the percentiles read off the request-weighted union of their CDFs (without CDF
    lines: the highest of the runs' own percentiles)."""
    runs = []
    for path in files:
        res, cdf = {}, []
        with open(path) as f:
            for line in f:
                parts = line.split()
                if parts and parts[0] == "RESULT":
                    res = dict(kv.split("=") for kv in parts[1:])
                elif parts and parts[0] == "CDF" and float(parts[2]) < 1.0:
                    # (wrk's percentile(100) reads 0: the 100 % point is left out)
                    cdf.append((float(parts[1]), float(parts[2])))
        runs.append((res, cdf))
    rate = sum(int(r["requests"]) / (int(r["duration_us"]) / 1e6) for r, _ in runs if r)
    errors = sum(int(r["errors"]) + int(r["non2xx"]) for r, _ in runs if r)
    ok = sum(int(r["requests"]) - int(r["non2xx"]) for r, _ in runs if r)
    weights = [int(r.get("requests", 0)) for r, _ in runs]
    total = float(sum(weights)) or 1.0

    def fraction_below(x):
        f = 0.0
        for (_, cdf), w in zip(runs, weights):
            below = [q for lat, q in cdf if lat <= x]
            f += (max(below) if below else 0.0) * w / total
        return f

    points = sorted(lat for _, cdf in runs for lat, _ in cdf)

    def pct(q):
        for x in points:
            if fraction_below(x) >= q - 1e-9:
                return x
        return points[-1] if points else 0.0

    if all(cdf for _, cdf in runs):
        p50, p99 = pct(0.50), pct(0.99)
    else:  # no CDF lines (wrk-events.lua): the worse run's percentiles, an upper bound
        p50 = max(int(r.get("p50_us", 0)) for r, _ in runs) / 1000.0
        p99 = max(int(r.get("p99_us", 0)) for r, _ in runs) / 1000.0
    print("%.0f %.2f %.2f %d %d" % (rate, p50, p99, errors, ok))


COMMANDS = {
    "destinations": cmd_destinations,
    "accounts": cmd_accounts,
    "event-latency": cmd_event_latency,
    "post-events": cmd_post_events,
    "metric": cmd_metric,
    "wait-metric": cmd_wait_metric,
    "wait-metrics": cmd_wait_metrics,
    "merge-wrk": cmd_merge_wrk,
    "wait-lines": cmd_wait_lines,
    "now-ms": cmd_now_ms,
    "fsync-floor": cmd_fsync_floor,
    "count": cmd_count,
    "latency-join": cmd_latency_join,
    "backlog": cmd_backlog,
    "cdf": cmd_cdf,
    "blackhole": cmd_blackhole,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit("usage: benchlib.py %s ARGS…" % "|".join(COMMANDS))
    COMMANDS[sys.argv[1]](*sys.argv[2:])
    sys.stdout.flush()
    os._exit(0)
