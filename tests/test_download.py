"""ADD <url> downloaded when converting (download.py), against a real HTTP server on loopback."""

import hashlib
import http.server
import os
import threading
import time
from email.utils import formatdate

import pytest

from dockerfile2def import D2SError, convert

from .test_safety import cli

BODY = b"downloaded content\n"
MODIFIED = 1_600_000_000  # the server's Last-Modified


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        self.server.requests.append((self.path, self.headers.get("If-Modified-Since")))
        if self.path.startswith("/missing"):
            self.send_error(404)
            return
        if self.headers.get("If-Modified-Since") == formatdate(MODIFIED, usegmt=True):
            self.send_response(304)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.send_header("Last-Modified", formatdate(MODIFIED, usegmt=True))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _url(server, path="/files/tool.tar.gz?x=1"):
    return "http://127.0.0.1:%d%s" % (server.server_address[1], path)


def test_a_url_is_downloaded_into_the_context_and_staged_from_there(server, tmp_path):
    text = "FROM busybox\nADD %s /opt/\n" % _url(server)
    result = convert(text, context=str(tmp_path), lookup_base=True, base_configs={"busybox": {}})
    downloads = list((tmp_path / ".d2s-downloads").glob("*/tool.tar.gz"))
    assert len(downloads) == 1 and downloads[0].read_bytes() == BODY
    assert int(os.stat(downloads[0]).st_mtime) == MODIFIED  # BuildKit's rule: Last-Modified
    relative = downloads[0].relative_to(tmp_path).as_posix()
    assert "cp -p %s " % relative in result.definition and "chmod 600" in result.definition
    assert "curl" not in result.definition and "wget" not in result.definition
    assert "d2s_copy /.d2s/2/0 /opt/ tool.tar.gz" in result.definition
    assert [d.code for d in result.diagnostics] == ["D2S013"]
    assert relative in result.diagnostics[0].message


def test_an_unchanged_file_is_not_downloaded_again(server, tmp_path):
    text = "FROM busybox\nADD %s /opt/tool\n" % _url(server)
    first = convert(text, context=str(tmp_path), lookup_base=True, base_configs={"busybox": {}})
    second = convert(text, context=str(tmp_path), lookup_base=True, base_configs={"busybox": {}})
    assert first.definition == second.definition
    assert [since is not None for _, since in server.requests] == [False, True]  # the second asked: changed?
    assert list((tmp_path / ".d2s-downloads").glob("*/tool.tar.gz"))[0].read_bytes() == BODY


def test_a_checksum_mismatch_is_a_located_error(server, tmp_path):
    wrong = "sha256:" + "0" * 64
    text = "FROM busybox\nRUN true\nADD --checksum=%s %s /opt/tool\n" % (wrong, _url(server))
    with pytest.raises(D2SError) as info:
        convert(text, context=str(tmp_path), lookup_base=True, base_configs={"busybox": {}})
    assert info.value.line == 3 and "digest mismatch" in str(info.value)
    right = "sha256:" + hashlib.sha256(BODY).hexdigest()
    text = text.replace(wrong, right)
    convert(text, context=str(tmp_path), lookup_base=True, base_configs={"busybox": {}})


def test_the_cli_refuses_a_checksum_mismatch_with_exit_status_2(server, tmp_path):
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\nADD --checksum=sha256:%s %s /opt/tool\n" % ("1" * 64, _url(server)))
    out = tmp_path / "out.def"
    status, _, err = cli(["convert", str(tmp_path / "Dockerfile"), str(out)])
    assert status == 2 and ":2:1: error: ADD" in err and "Traceback" not in err
    assert not out.exists()


def test_an_unreachable_url_falls_back_to_the_build_host(server, tmp_path):
    text = "FROM busybox\nADD %s /opt/tool\n" % _url(server, "/missing/tool")
    result = convert(text, context=str(tmp_path), lookup_base=True, base_configs={"busybox": {}})
    assert "curl -fsSLR" in result.definition
    message = [d.message for d in result.diagnostics if d.code == "D2S013"][0]
    assert "could not fetch it (HTTP 404" in message


def test_offline_makes_no_request(server, tmp_path):
    text = "FROM busybox\nADD %s /opt/tool\n" % _url(server)
    result = convert(text, context=str(tmp_path))
    assert server.requests == [] and not (tmp_path / ".d2s-downloads").exists()
    message = [d.message for d in result.diagnostics if d.code == "D2S013"][0]
    assert "curl -fsSLR" in result.definition and "--offline" in message


def _copied_from_context(definition: str) -> str:
    start = definition.index("tar --no-recursion")
    return definition[start:definition.index("| tar -xpf", start)]


def test_copy_of_the_context_leaves_the_downloads_out(server, tmp_path):
    (tmp_path / "app.py").write_text("print(1)\n")
    text = "FROM busybox\nADD %s /opt/tool\nCOPY . /app/\n" % _url(server)
    result = convert(text, context=str(tmp_path), lookup_base=True, base_configs={"busybox": {}})
    assert (tmp_path / ".d2s-downloads").is_dir()
    assert "'app.py'" in _copied_from_context(result.definition)
    assert ".d2s-downloads" not in _copied_from_context(result.definition)
    # A later offline conversion still leaves an existing downloads folder out.
    again = convert(text, context=str(tmp_path), base_configs={"busybox": {}})
    assert ".d2s-downloads" not in _copied_from_context(again.definition)


def test_an_interrupted_download_leaves_no_partial_file(tmp_path, monkeypatch):
    import shutil

    from dockerfile2def import download

    class Boom(KeyboardInterrupt):
        pass

    def interrupted(*args, **kwargs):
        raise Boom()

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler) as httpd:
        httpd.requests = []
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        monkeypatch.setattr(shutil, "copyfileobj", interrupted)
        with pytest.raises(Boom):
            download.fetch("http://127.0.0.1:%d/f" % httpd.server_address[1], str(tmp_path), "f")
        httpd.shutdown()
    leftovers = [p.name for p in (tmp_path / ".d2s-downloads").rglob("*") if p.is_file()]
    assert leftovers == []


# -- ADD <git repository>, against a real `git daemon` on loopback ------------------------------------------

def _git(*args, cwd=None):
    import subprocess

    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.com")
    return subprocess.run(["git"] + list(args), cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def repository(tmp_path):
    """(url, commit of tag v1) of a repository served by `git daemon` on a free loopback port."""
    import socket
    import subprocess

    served = tmp_path / "served"
    work = served / "project"
    (work / "sub").mkdir(parents=True)
    (work / "README").write_text("v1\n")
    (work / "sub" / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(work / "sub" / "run.sh", 0o775)
    _git("init", "--quiet", "-b", "main", cwd=work)
    _git("add", ".", cwd=work)
    _git("commit", "--quiet", "-m", "v1", cwd=work)
    _git("tag", "v1", cwd=work)
    commit = _git("rev-parse", "HEAD", cwd=work)
    (work / "README").write_text("v2\n")
    _git("commit", "--quiet", "-am", "v2", cwd=work)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    daemon = subprocess.Popen(["git", "daemon", "--reuseaddr", "--export-all", "--listen=127.0.0.1",
                               "--port=%d" % port, "--base-path=%s" % served, str(served)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = "git://127.0.0.1:%d/project" % port
    for _ in range(100):
        try:
            _git("ls-remote", url)
            break
        except Exception:
            time.sleep(0.05)
    yield url, commit, work
    daemon.terminate()
    daemon.wait()


def test_a_git_source_is_checked_out_when_converting(repository, tmp_path):
    url, commit, _ = repository
    context = tmp_path / "ctx"
    context.mkdir()
    text = "FROM busybox\nADD %s#v1:sub /src/\nADD --checksum=%s %s#v1 /all/\n" % (url, commit[:12], url)
    result = convert(text, context=str(context), lookup_base=True, base_configs={"busybox": {}})
    trees = sorted((context / ".d2s-downloads").glob("*/tree"))
    assert len(trees) == 2
    sub = [t for t in trees if (t / "run.sh").exists()][0]
    whole = [t for t in trees if t != sub][0]
    assert os.stat(sub / "run.sh").st_mode & 0o777 == 0o755  # BuildKit's modes: 755 / 644
    assert (whole / "README").read_text() == "v1\n" and not (whole / ".git").exists()
    assert os.stat(whole / "README").st_mode & 0o777 == 0o644
    for tree in trees:
        assert "cp -a %s/. " % tree.relative_to(context).as_posix() in result.definition
    assert "git clone" not in result.definition
    assert [d.code for d in result.diagnostics] == ["D2S014", "D2S014"]


def test_a_git_checksum_mismatch_is_a_located_error(repository, tmp_path):
    url, commit, _ = repository
    text = "FROM busybox\nADD --checksum=%s %s#main /all/\n" % (commit[:12], url)  # main moved on to v2
    with pytest.raises(D2SError) as info:
        convert(text, context=str(tmp_path), lookup_base=True, base_configs={"busybox": {}})
    assert info.value.line == 2 and "expected checksum to match" in str(info.value)


def test_a_new_commit_is_checked_out_by_a_new_conversion(repository, tmp_path):
    url, _, work = repository
    text = "FROM busybox\nADD %s#main /all/\n" % url
    convert(text, context=str(tmp_path), lookup_base=True, base_configs={"busybox": {}})
    tree = list((tmp_path / ".d2s-downloads").glob("*/tree"))[0]
    assert (tree / "README").read_text() == "v2\n"
    (work / "README").write_text("v3\n")
    _git("commit", "--quiet", "-am", "v3", cwd=work)
    convert(text, context=str(tmp_path), lookup_base=True, base_configs={"busybox": {}})
    assert (tree / "README").read_text() == "v3\n"


def test_an_unreachable_repository_falls_back_to_the_build_host(tmp_path):
    text = "FROM busybox\nADD git://127.0.0.1:1/nothing.git /src/\n"
    result = convert(text, context=str(tmp_path), lookup_base=True, base_configs={"busybox": {}})
    assert "git clone --quiet" in result.definition
    message = [d.message for d in result.diagnostics if d.code == "D2S014"][0]
    assert "could not fetch it (git" in message
