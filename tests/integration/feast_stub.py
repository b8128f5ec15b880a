#!/usr/bin/python3
"""A stand-in for a Feast feature server (Feast is not installable here):
answers POST /get-online-features in Feast's column-major format (research
ML.md 4.1) from a fixed table, with NOT_FOUND for unknown keys; a request
for feature "bad:x" gets Feast's error body with HTTP 400, "boom:x" a 500.
Usage: feast_stub.py PORTFILE -- writes the port it listens on."""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TABLE = {1001: {"conv_rate": 0.7, "acc_rate": 0.87},
         1002: {"conv_rate": 0.25, "acc_rate": 0.5}}


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path != "/get-online-features":
            return self.reply(404, {"message": "no route"})
        feats = req.get("features", [])
        if any(f.startswith("bad:") for f in feats):
            return self.reply(400, {"module": "feast.errors",
                                    "class": "FeatureViewNotFoundException",
                                    "message": "Feature view bad does not "
                                               "exist"})
        if any(f.startswith("boom:") for f in feats):
            return self.reply(500, "internal error")
        ids = req["entities"]["driver_id"]
        names = ["driver_id"] + [f.split(":")[1] for f in feats]
        results = [{"values": ids, "statuses": ["PRESENT"] * len(ids),
                    "event_timestamps": ["1970-01-01T00:00:00Z"] * len(ids)}]
        for f in names[1:]:
            vals = [TABLE.get(i, {}).get(f) for i in ids]
            results.append({
                "values": vals,
                "statuses": ["PRESENT" if v is not None else "NOT_FOUND"
                             for v in vals],
                "event_timestamps": ["2021-12-31T23:00:00Z"] * len(ids)})
        # the order of results follows metadata.feature_names; shuffle both
        # the same way so a client must look columns up by name
        order = list(reversed(range(len(names))))
        self.reply(200, {"metadata": {"feature_names": [names[i] for i in order]},
                         "results": [results[i] for i in order]})


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(sys.argv[1], "w") as f:
    f.write(str(srv.server_address[1]))
srv.serve_forever()
