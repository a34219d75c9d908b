"""A stand-in for the Hugging Face Hub on 127.0.0.1: just the endpoints that `create_repo` and
`upload_folder` of huggingface_hub 2.x call when every file is uploaded as a regular (non-LFS) file.

- `POST /api/repos/create`: `{"url": ...}` of the new repo.
- `POST /api/validate-yaml`: accepts any README metadata.
- `POST /api/models/{repo_id}/preupload/{revision}`: every file is "regular", none ignored.
- `POST /api/models/{repo_id}/commit/{revision}`: NDJSON, a header line then one line per file with
  its base64 content; the files are kept in `FakeHub.files[repo_id]`.

Any other request is answered 404 and listed in `FakeHub.unexpected`, except the best-effort
`GET /api/agent-harnesses` that huggingface_hub makes on its own and for which a 404 is fine.
"""

import base64
import http.server
import json
import re
import threading

PREUPLOAD = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/preupload/(?P<revision>[^/?]+)")
COMMIT = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/commit/(?P<revision>[^/?]+)")
OPTIONAL_GETS = ("/api/agent-harnesses",)


class FakeHub:
    """Serve on a free port of 127.0.0.1 in a daemon thread; use as a context manager."""

    def __init__(self):
        self.created: list[dict] = []  # payloads of /api/repos/create
        self.files: dict[str, dict[str, bytes]] = {}  # repo_id -> path -> content
        self.commit_messages: list[str] = []
        self.authorizations: set[str] = set()  # Authorization headers seen
        self.unexpected: list[str] = []
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "FakeHub":
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self):
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output quiet
                pass

            def read_body(self) -> bytes:  # huggingface_hub always sends a Content-Length
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def answer(self, status: int, payload: dict):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if not self.path.startswith(OPTIONAL_GETS):
                    hub.unexpected.append(f"GET {self.path}")
                self.answer(404, {"error": "not in the fake hub"})

            def do_POST(self):
                body = self.read_body()
                hub.authorizations.add(self.headers.get("Authorization", ""))
                if self.path == "/api/repos/create":
                    payload = json.loads(body)
                    hub.created.append(payload)
                    repo_id = f"{payload['organization']}/{payload['name']}"
                    self.answer(200, {"url": f"{hub.endpoint}/{repo_id}", "name": repo_id, "id": repo_id})
                elif self.path == "/api/validate-yaml":
                    self.answer(200, {"errors": [], "warnings": []})
                elif PREUPLOAD.match(self.path):
                    files = json.loads(body)["files"]
                    self.answer(200, {"files": [
                        {"path": file["path"], "uploadMode": "regular", "shouldIgnore": False} for file in files
                    ]})
                elif match := COMMIT.match(self.path):
                    repo_files = hub.files.setdefault(match["repo"], {})
                    for line in body.splitlines():
                        item = json.loads(line)
                        if item["key"] == "header":
                            hub.commit_messages.append(item["value"]["summary"])
                        elif item["key"] == "file" and item["value"].get("encoding") == "base64":
                            repo_files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                        else:
                            hub.unexpected.append(f"commit line {item['key']}")
                    oid = "0" * 40
                    self.answer(200, {"commitUrl": f"{hub.endpoint}/{match['repo']}/commit/{oid}", "commitOid": oid})
                else:
                    hub.unexpected.append(f"POST {self.path}")
                    self.answer(404, {"error": "not in the fake hub"})

        return Handler
