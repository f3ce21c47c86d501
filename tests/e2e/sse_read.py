"""sse_read.py URL TOKEN WANT [LAST_EVENT_ID] - reads a Server-Sent Events stream,
printing each line as it comes, until WANT has come (exit 0) or 60 s have passed
(exit 1). WANT is "N" (data lines), "head" (the retry: hint that
opens a stream), or "text:T" (a data line holding T). So a test waits for what it is
about, however slow the machine, instead of reading for a fixed time."""
import http.client
import sys
import time
import urllib.parse

url, token, want = sys.argv[1:4]
last = sys.argv[4] if len(sys.argv) > 4 else ""
u = urllib.parse.urlsplit(url)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
headers = {"authorization": "Bearer " + token, "accept": "text/event-stream"}
if last:
    headers["last-event-id"] = last
conn.request("GET", u.path + ("?" + u.query if u.query else ""), headers=headers)
resp = conn.getresponse()
deadline = time.time() + 60
data = 0
while time.time() < deadline:
    raw = resp.fp.readline()
    if not raw:
        break
    line = raw.decode().rstrip("\r\n")
    print(line, flush=True)  # as it comes: a test may wait for the head
    if line.startswith("data:"):
        data += 1
    done = (want == "head" and line.startswith("retry:")) or \
           (want.startswith("text:") and line.startswith("data:") and want[5:] in line) or \
           (want.isdigit() and data >= int(want))
    if done:
        sys.exit(0)
sys.exit(1)
