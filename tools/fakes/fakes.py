"""Local stand-ins for the third parties yiwang talks to over HTTP, speaking the same
JSON APIs as the real adapters expect:

  POST /sms/send          {"phone", "template", "params"} -> {"ok": true, "messageId"}
                          (the SMS gateway; messages are kept so tests can read them)
  GET  /sms/last?phone=P  the last message sent to P: {"phone", "template", "params", "at"}
  POST /sms/fail          {"fail": true|false} makes the SMS gateway answer 503 (tests)
  POST /registry/verify   {"name", "idCardNumber"} -> {"match": bool}
                          (the population registry; people from registry.json)
  POST /companies/lookup  {"creditCode"} -> the company
                          register (企业登记): {"creditCode", "name",
                          "legalRepresentative", "legalRepresentativeIdSha256" (SHA-256
                          hex of the representative's upper-case ID number), "status"
                          ("active", "deregistered", "revoked")}, or 404 when unknown
                          (companies from companies.json)
  POST /companies/update  {"creditCode", and any of "name", "legalRepresentative",
                          "legalRepresentativeIdSha256", "status"} changes a company
                          (tests: a new representative, a deregistration)

Usage: fakes.py PORT   (listens on 127.0.0.1 only)
"""
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "registry.json"), encoding="utf-8") as f:
    PEOPLE = {(p["idCardNumber"].upper(), p["name"]) for p in json.load(f)["people"]}
with open(os.path.join(HERE, "companies.json"), encoding="utf-8") as f:
    COMPANIES = {c["creditCode"]: c for c in json.load(f)["companies"]}

lock = threading.Lock()
messages = {}
state = {"fail": False, "sent": 0}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("content-length") or 0)
        if n > 65536:
            return None
        try:
            return json.loads(self.rfile.read(n) or b"{}")
        except ValueError:
            return None

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/sms/last":
            phone = parse_qs(url.query).get("phone", [""])[0]
            with lock:
                msg = (messages.get(phone) or [None])[-1]
            return self.answer(200, msg) if msg else self.answer(404, {"error": "none"})
        if url.path == "/healthz":
            return self.answer(200, {"ok": True})
        self.answer(404, {"error": "not found"})

    def do_POST(self):
        body = self.body()
        if body is None:
            return self.answer(400, {"error": "bad json"})
        if self.path == "/sms/send":
            if state["fail"]:
                return self.answer(503, {"error": "sms gateway down"})
            phone = body.get("phone")
            if not isinstance(phone, str) or len(phone) != 11:
                return self.answer(400, {"error": "bad phone"})
            with lock:
                state["sent"] += 1
                msg = {"phone": phone, "template": body.get("template"),
                       "params": body.get("params"), "at": time.time(),
                       "messageId": "m%d" % state["sent"]}
                messages.setdefault(phone, []).append(msg)
            return self.answer(200, {"ok": True, "messageId": msg["messageId"]})
        if self.path == "/sms/fail":
            state["fail"] = bool(body.get("fail"))
            return self.answer(200, {"fail": state["fail"]})
        if self.path == "/registry/verify":
            name, number = body.get("name"), body.get("idCardNumber")
            if not isinstance(name, str) or not isinstance(number, str):
                return self.answer(400, {"error": "name and idCardNumber are required"})
            return self.answer(200, {"match": (number.upper(), name) in PEOPLE})
        if self.path == "/companies/update":
            with lock:
                company = COMPANIES.get(body.get("creditCode"))
                if company is None:
                    return self.answer(404, {"error": "unknown"})
                for k in ("name", "legalRepresentative", "legalRepresentativeIdSha256", "status"):
                    if isinstance(body.get(k), str):
                        company[k] = body[k]
            return self.answer(200, company)
        if self.path == "/companies/lookup":
            company = COMPANIES.get(body.get("creditCode"))
            return self.answer(200, company) if company else self.answer(404, {"error": "unknown"})
        self.answer(404, {"error": "not found"})


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    server.serve_forever()
