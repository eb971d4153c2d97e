#!/usr/bin/env python3
"""A webhook receiver we did not write the verification of: every delivery is checked with the
`standardwebhooks` package from PyPI (pinned in .ci/requirements.txt), exactly as a partner's
receiver would check it.

Serves on 127.0.0.1 (port printed on the first line of stdout):
- POST /hook      a delivery: verified with each secret in force; answered as the mode says;
- GET  /control   what it received, as JSON: {"deliveries": [...]} in arrival order;
- POST /control   {"secrets": [...], "answers": [status, ...], "then": status, "delay": s}:
                  the secrets a delivery may verify with, the statuses of the next deliveries
                  (one each, in order), the status after those, and how long to wait before
                  answering (a slow receiver).

Each delivery recorded: webhook-id, the secrets (by index) it verified with, the status it was
answered with, and the body's type, chain, seq and hash.
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

LOCK = threading.Lock()
STATE = {"secrets": [], "answers": [], "then": 204, "delay": 0.0, "deliveries": []}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _reply(self, status, body=b""):
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def _body(self):
        return self.rfile.read(int(self.headers.get("content-length", "0")))

    def do_GET(self):
        if self.path != "/control":
            return self._reply(404)
        with LOCK:
            body = json.dumps({"deliveries": STATE["deliveries"]}).encode()
        self._reply(200, body)

    def do_POST(self):
        body = self._body()
        if self.path == "/control":
            change = json.loads(body)
            with LOCK:
                for key in ("secrets", "answers", "then", "delay"):
                    if key in change:
                        STATE[key] = change[key]
            return self._reply(204)
        if self.path != "/hook":
            return self._reply(404)
        headers = {k.lower(): v for k, v in self.headers.items()}
        with LOCK:
            secrets = list(STATE["secrets"])
            status = STATE["answers"].pop(0) if STATE["answers"] else STATE["then"]
            delay = STATE["delay"]
        verified = []
        for index, secret in enumerate(secrets):
            try:
                Webhook(secret).verify(body, headers)
                verified.append(index)
            except WebhookVerificationError:
                pass
        if not verified:
            status = 401
        try:
            payload = json.loads(body)
            data = payload.get("data", {})
            summary = {
                "type": payload.get("type"),
                "chain": data.get("chain"),
                "seq": data.get("seq"),
                "hash": data.get("hash"),
                "entry": data.get("entry"),
            }
        except ValueError:
            summary = {}
        record = {"id": headers.get("webhook-id"), "verified": verified, "status": status, **summary}
        if delay:
            time.sleep(delay)
        with LOCK:
            STATE["deliveries"].append(record)
        self._reply(status)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
