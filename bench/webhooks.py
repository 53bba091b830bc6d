#!/usr/bin/env python3
"""Webhook delivery latency in the benchmark (issue 15): a receiver on this
host and one endpoint subscribed to user.created; creates at a steady RATE per
second for SECONDS; for each, the time from the create's answer (its commit) to
the delivery's arrival. Prints p50 and p99 and records them in
OUT_DIR/values.jsonl.

    bench/webhooks.py latency BASE_URL TOKEN OUT_DIR [RATE] [SECONDS]
"""
import http.server
import json
import socket
import sys
import threading
import time
import urllib.request

mode, base, token = sys.argv[1], sys.argv[2], sys.argv[3]
out = sys.argv[4] if len(sys.argv) > 4 else None
rate = int(sys.argv[5]) if len(sys.argv) > 5 else 200
seconds = int(sys.argv[6]) if len(sys.argv) > 6 else 10
run = str(int(time.time()))

answered = {}  # email -> monotonic time the create was answered
received = {}  # email -> monotonic time its delivery arrived
lock = threading.Lock()


class Receiver(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        now = time.monotonic()
        try:
            email = json.loads(body)["data"]["user"]["email"]
            with lock:
                received.setdefault(email, now)
        except (ValueError, KeyError, TypeError):
            pass
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()
port = server.server_address[1]


def call(method, path, body=None):
    request = urllib.request.Request(
        base + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"authorization": f"Bearer {token}", "content-type": "application/json",
                 "accept": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


hook = call("POST", "/webhooks", {"url": f"http://127.0.0.1:{port}/hook", "events": ["user.created"]})


def create(i):
    email = f"hook{run}-{i}@bench.example"
    call("POST", "/users", {"name": f"Hook {i}", "email": email})
    with lock:
        answered[email] = time.monotonic()


threads = []
start = time.monotonic()
total = rate * seconds
for i in range(total):
    due = start + i / rate
    delay = due - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    t = threading.Thread(target=create, args=(i,))
    t.start()
    threads.append(t)
for t in threads:
    t.join()
sent_for = time.monotonic() - start
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    with lock:
        if len(received) >= len(answered):
            break
    time.sleep(0.05)
call("DELETE", f"/webhooks/{hook['id']}")
server.shutdown()

latencies = sorted(max(0.0, received[e] - answered[e]) * 1000 for e in answered if e in received)
missing = len(answered) - len(latencies)


def pct(q):
    if not latencies:
        return float("nan")
    return latencies[min(len(latencies) - 1, int(q * len(latencies)))]


p50, p99 = pct(0.50), pct(0.99)
print(f"  webhooks: {len(answered)} creates at {len(answered) / sent_for:.0f}/s; "
      f"delivered {len(latencies)} (missing {missing}); commit → receipt p50 {p50:.1f} ms, p99 {p99:.1f} ms",
      file=sys.stderr)
with open(f"{out}/values.jsonl", "a") as f:
    for key, value in [("webhook_rate", len(answered) / sent_for), ("webhook_p50_ms", p50),
                       ("webhook_p99_ms", p99), ("webhook_missing", missing)]:
        f.write(json.dumps({"key": key, "value": value}) + "\n")
