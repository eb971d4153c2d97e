#!/usr/bin/env python3
"""A webhook receiver we did not write the verification of: every delivery is checked with the
`standardwebhooks` package from PyPI (pinned in .ci/requirements.txt), exactly as a partner's
receiver would check it.

Serves on 127.0.0.1, on the port given as its argument or any free one (printed on the first line
of stdout):
- POST /hook      a delivery: verified with each secret in force; answered as the mode says;
- GET  /control   what it received, as JSON: {"deliveries": [...]} in arrival order;
- POST /control   {"secrets": [...], "public_key": "whpk_…", "answers": [status, ...], "then":
                  status, "delay": s}: the secrets a delivery may verify with (v1), the
                  endpoint's Ed25519 public key (v1a, checked with PyNaCl), the statuses of the next deliveries
                  (one each, in order), the status after those, and how long to wait before
                  answering (a slow receiver); "openapi": the service's OpenAPI document,
                  whose webhooks.ledgerEntry body schema each delivery is then validated
                  against with the `jsonschema` package (Draft 2020-12, as OpenAPI 3.1 says).

Each delivery recorded: webhook-id, the secrets (by index) it verified with, whether its v1a
signature verified with the public key, the status it was
answered with, the body's type, chain, seq, hash, entry, request and receipt, and the schema
errors (none when no document was given).
"""

import base64
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from jsonschema import Draft202012Validator
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

LOCK = threading.Lock()
STATE = {"secrets": [], "public_key": None, "answers": [], "then": 204, "delay": 0.0, "deliveries": [], "validator": None}


def body_validator(document):
    """A validator of the body the document's `webhooks.ledgerEntry` POST declares, its
    `$ref`s resolved in the document itself."""
    media = document["webhooks"]["ledgerEntry"]["post"]["requestBody"]["content"]["application/json"]
    schema = dict(media["schema"])
    schema["components"] = document["components"]
    return Draft202012Validator(schema)


def verify_v1a(public_key, headers, body):
    """Whether a v1a (Ed25519) signature of the header verifies with `public_key` (whpk_…):
    over id.timestamp.body, as the specification says (PyNaCl, not our code)."""
    if not public_key:
        return False
    key = VerifyKey(base64.b64decode(public_key[len("whpk_"):]))
    signed = f"{headers.get('webhook-id')}.{headers.get('webhook-timestamp')}.".encode() + body
    for versioned in headers.get("webhook-signature", "").split(" "):
        version, _, encoded = versioned.partition(",")
        if version != "v1a":
            continue
        try:
            key.verify(signed, base64.b64decode(encoded))
            return True
        except (BadSignatureError, ValueError):
            pass
    return False


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
                for key in ("secrets", "public_key", "answers", "then", "delay"):
                    if key in change:
                        STATE[key] = change[key]
                if "openapi" in change:
                    STATE["validator"] = body_validator(change["openapi"])
            return self._reply(204)
        if self.path != "/hook":
            return self._reply(404)
        headers = {k.lower(): v for k, v in self.headers.items()}
        with LOCK:
            secrets = list(STATE["secrets"])
            public_key = STATE["public_key"]
            status = STATE["answers"].pop(0) if STATE["answers"] else STATE["then"]
            delay = STATE["delay"]
            validator = STATE["validator"]
        verified = []
        for index, secret in enumerate(secrets):
            try:
                Webhook(secret).verify(body, headers)
                verified.append(index)
            except WebhookVerificationError:
                pass
        v1a = verify_v1a(public_key, headers, body)
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
                "request": data.get("request"),
                "receipt": data.get("receipt"),
            }
            if validator is not None:
                summary["schema_errors"] = [
                    f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(payload)
                ]
        except ValueError:
            summary = {"schema_errors": ["not JSON"]}
        record = {"id": headers.get("webhook-id"), "verified": verified, "v1a": v1a, "status": status, **summary}
        if delay:
            time.sleep(delay)
        with LOCK:
            STATE["deliveries"].append(record)
        self._reply(status)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
