"""h2load_summary.py NAME OUT LOG - one line of a benchmark table from h2load's output
(req/s, errors) and its --log-file (per-request times, so p50/p99 are percentiles)."""
import re
import sys

name, out, log = sys.argv[1:4]
text = open(out).read()
rps = re.search(r"finished in [^,]+, ([\d.]+) req/s", text)
st = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
ok = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed", text)
times = sorted(int(l.split()[2]) for l in open(log) if l.strip())


def pct(q):
    return times[min(len(times) - 1, int(q * len(times)))] / 1000.0 if times else float("nan")


errors = (int(ok.group(2)) if ok else -1) + (int(st.group(3)) + int(st.group(4)) if st else 0)
print(f"{name:<44} {float(rps.group(1)) if rps else 0:>10.0f} {pct(0.5):>9.2f} {pct(0.99):>9.2f} {errors:>7}")
