"""A local Hugging Face Hub for tests: the wire protocol `huggingface_hub` speaks, over a loopback socket.

Uploads: create repo, validate-yaml, preupload (every file "regular", so content travels base64 in the commit and
xet/LFS are never touched) and the NDJSON commit. Downloads: model info, tree and resolve, enough for
`from_pretrained` and `ModelCard.load`. State lives in memory. Knobs for failure tests:

- `tokens`: when set, writes need one of these bearer tokens and any other token gets 401 on every route. The 401
  body echoes the rejected credential (as some proxies do), so a client that prints server errors verbatim would
  leak it; the publisher must redact it.
- `fail_commits`: the next N commit requests answer 500 and change nothing (a commit is atomic, as on the Hub).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.bin filter=lfs diff=lfs merge=lfs -text\n"


def git_blob_sha(data: bytes) -> str:
    """The id git (and the Hub's ETag for non-LFS files) gives a file's content."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Commit:
    repo_id: str
    oid: str
    summary: str
    added: list[str]
    deleted: list[str]


@dataclass
class Repo:
    repo_id: str
    private: bool
    files: dict[str, bytes] = field(default_factory=dict)
    sha: str = ""


class FakeHub:
    """In-memory Hub state plus the HTTP server that serves it on 127.0.0.1:<free port>."""

    def __init__(self, tokens: set[str] | None = None) -> None:
        self.tokens = tokens
        self.repos: dict[str, Repo] = {}
        self.commits: list[Commit] = []
        self.requests: list[tuple[str, str]] = []
        self.fail_commits = 0
        self._lock = threading.Lock()
        self._counter = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeHub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def commits_to(self, repo_id: str) -> list[Commit]:
        """User commits (the repo's initial .gitattributes commit is not counted)."""
        return [c for c in self.commits if c.repo_id == repo_id]

    # ---- state changes (called by the handler) -------------------------------------------------------------
    def _new_oid(self, salt: str) -> str:
        self._counter += 1
        return hashlib.sha1(f"{salt}:{self._counter}".encode()).hexdigest()

    def create(self, repo_id: str, private: bool) -> bool:
        with self._lock:
            if repo_id in self.repos:
                return False
            repo = Repo(repo_id, private, {".gitattributes": GITATTRIBUTES})
            repo.sha = self._new_oid(repo_id)
            self.repos[repo_id] = repo
            return True

    def commit(self, repo_id: str, lines: list[dict]) -> Commit:
        header = next(line["value"] for line in lines if line["key"] == "header")
        with self._lock:
            repo = self.repos[repo_id]
            files = dict(repo.files)
            added, deleted = [], []
            for line in lines:
                value = line["value"]
                if line["key"] == "file":
                    files[value["path"]] = base64.b64decode(value["content"])
                    added.append(value["path"])
                elif line["key"] == "deletedFile":
                    files.pop(value["path"], None)
                    deleted.append(value["path"])
                elif line["key"] == "deletedFolder":
                    prefix = value["path"].rstrip("/") + "/"
                    for path in [p for p in files if p.startswith(prefix)]:
                        files.pop(path)
                        deleted.append(path)
                elif line["key"] == "lfsFile":
                    raise ValueError("this fake Hub only accepts regular uploads (it answered uploadMode=regular)")
            repo.files = files
            repo.sha = self._new_oid(repo_id)
            commit = Commit(repo_id, repo.sha, header.get("summary", ""), added, deleted)
            self.commits.append(commit)
            return commit


_REPO = r"(?P<repo>[^/]+/[^/]+)"
_ROUTES = [
    ("POST", re.compile(r"/api/repos/create"), "create"),
    ("POST", re.compile(r"/api/validate-yaml"), "validate_yaml"),
    ("POST", re.compile(rf"/api/models/{_REPO}/preupload/(?P<rev>[^/]+)"), "preupload"),
    ("POST", re.compile(rf"/api/models/{_REPO}/commit/(?P<rev>[^/]+)"), "commit"),
    ("GET", re.compile(rf"/api/models/{_REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?"), "tree"),
    ("GET", re.compile(rf"/api/models/{_REPO}(?:/revision/(?P<rev>[^/]+))?"), "info"),
    ("GET", re.compile(rf"/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)"), "resolve"),
    ("HEAD", re.compile(rf"/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)"), "resolve"),
]
_WRITES = {"create", "preupload", "commit"}


def _route(method: str, path: str) -> tuple[str, re.Match] | None:
    for verb, pattern, name in _ROUTES:
        match = pattern.fullmatch(path)
        if verb == method and match:
            return name, match
    return None


def _make_handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # noqa: A002 - silence the default stderr access log
            return

        # ---- plumbing ----------------------------------------------------------------------------------------
        def _send(self, status: int, body: bytes = b"", headers: dict | None = None, ctype="application/json"):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, data, headers: dict | None = None):
            self._send(status, json.dumps(data).encode(), headers)

        def _error(self, status: int, message: str, code: str | None = None):
            headers = {"X-Error-Message": message}
            if code:
                headers["X-Error-Code"] = code
            self._json(status, {"error": message}, headers)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _token(self) -> str | None:
            auth = self.headers.get("Authorization") or ""
            return auth[len("Bearer ") :] if auth.startswith("Bearer ") else None

        def _dispatch(self) -> None:
            url = urlsplit(self.path)
            path = unquote(url.path)
            hub.requests.append((self.command, path))
            found = _route(self.command, path)
            if found is None:
                self._body()
                return self._error(404, f"no route for {self.command} {path}")
            name, match = found
            token = self._token()
            if hub.tokens is not None and token is not None and token not in hub.tokens:
                self._body()
                return self._error(401, f"Invalid credentials in Authorization header: Bearer {token}")
            if hub.tokens is not None and name in _WRITES and token is None:
                self._body()
                return self._error(401, "You must be authenticated to write (no token sent)")
            groups = {k: v for k, v in match.groupdict().items() if v is not None}
            repo_id = groups.get("repo")
            if name != "create" and repo_id is not None:
                repo = hub.repos.get(repo_id)
                readable = repo is not None and (not repo.private or token is not None)
                if not readable:
                    self._body()
                    return self._error(404, f"Repository {repo_id} not found", "RepoNotFound")
            getattr(self, f"_{name}")(parse_qs(url.query), **groups)

        do_GET = do_POST = do_HEAD = _dispatch

        # ---- routes ------------------------------------------------------------------------------------------
        def _create(self, query):
            data = json.loads(self._body() or b"{}")
            if data.get("type", "model") != "model":
                return self._error(400, "this fake Hub only hosts model repos")
            repo_id = f"{data['organization']}/{data['name']}" if data.get("organization") else data["name"]
            private = data.get("visibility") == "private" or bool(data.get("private"))
            if not hub.create(repo_id, private):
                return self._json(409, {"error": "You already created this model repo", "url": self._url(repo_id)})
            self._json(200, {"url": self._url(repo_id), "name": repo_id})

        def _validate_yaml(self, query):
            content = json.loads(self._body())["content"]
            match = re.match(r"\A---\n(.*?)\n---\n", content, re.S)
            try:
                data = yaml.safe_load(match.group(1)) if match else {}
            except yaml.YAMLError as err:
                return self._error(400, f"Invalid metadata in README.md: {err}")
            if data is not None and not isinstance(data, dict):
                return self._error(400, "Invalid metadata in README.md: not a mapping")
            self._json(200, {"errors": [], "warnings": []})

        def _preupload(self, query, repo, rev):
            files = json.loads(self._body())["files"]
            self._json(
                200,
                {
                    "files": [
                        {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None} for f in files
                    ]
                },
            )

        def _commit(self, query, repo, rev):
            lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
            if hub.fail_commits > 0:
                hub.fail_commits -= 1
                return self._error(500, "Internal Error - the commit was not applied")
            commit = hub.commit(repo, lines)
            self._json(200, {"commitOid": commit.oid, "commitUrl": f"{self._url(repo)}/commit/{commit.oid}"})

        def _info(self, query, repo, rev="main"):
            stored = hub.repos[repo]
            self._json(
                200,
                {
                    "id": repo,
                    "modelId": repo,
                    "sha": stored.sha,
                    "private": stored.private,
                    "siblings": [{"rfilename": path} for path in sorted(stored.files)],
                },
            )

        def _tree(self, query, repo, rev, path=""):
            files = hub.repos[repo].files
            prefix = path.strip("/") + "/" if path.strip("/") else ""
            recursive = query.get("recursive", ["false"])[0].lower() == "true"
            entries, folders = [], set()
            for name in sorted(files):
                if not name.startswith(prefix):
                    continue
                rest = name[len(prefix) :]
                if "/" in rest and not recursive:
                    folders.add(prefix + rest.split("/")[0])
                    continue
                entries.append(
                    {"type": "file", "path": name, "size": len(files[name]), "oid": git_blob_sha(files[name])}
                )
            entries += [{"type": "directory", "path": f, "size": 0, "oid": git_blob_sha(f.encode())} for f in folders]
            if prefix and not entries:
                return self._error(404, f"{path} does not exist on {rev}", "EntryNotFound")
            self._json(200, entries)

        def _resolve(self, query, repo, rev, path):
            stored = hub.repos[repo]
            if path not in stored.files:
                return self._error(404, f"Entry {path} not found", "EntryNotFound")
            data = stored.files[path]
            headers = {"ETag": f'"{git_blob_sha(data)}"', "X-Repo-Commit": stored.sha}
            self._send(200, data, headers, ctype="application/octet-stream")

        def _url(self, repo_id: str) -> str:
            host, port = self.server.server_address[:2]
            return f"http://{host}:{port}/{repo_id}"

    return Handler
