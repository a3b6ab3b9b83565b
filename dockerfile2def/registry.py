"""Read a base image's config (ENV, ENTRYPOINT, CMD, WORKDIR, USER, labels) from its registry.

OCI distribution API with anonymous bearer-token auth, as Docker Hub and NGC use it; plain HTTP
only for loopback registries. Results are cached on disk for a day
(``$D2S_CACHE_DIR`` or ``~/.cache/d2s``); a registry that cannot be reached quickly gives None,
and the converter falls back to working these values out inside the image.
"""

import hashlib
import json
import os
import platform
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Optional, Tuple

TIMEOUT = 6.0
CACHE_SECONDS = 24 * 3600
_ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64", "ppc64le": "ppc64le", "s390x": "s390x"}


def split_reference(image: str) -> Tuple[str, str, str]:
    """(registry host, repository, tag or digest) with Docker's defaults."""
    name, digest = (image.split("@", 1) + [""])[:2]
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = "registry-1.docker.io", name
    if registry in ("docker.io", "index.docker.io"):
        registry = "registry-1.docker.io"
    tag = "latest"
    if ":" in repository.rsplit("/", 1)[-1]:
        repository, tag = repository.rsplit(":", 1)
    if registry == "registry-1.docker.io" and "/" not in repository:
        repository = "library/" + repository
    return registry, repository, digest or tag


def _loopback(registry: str) -> bool:
    host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry
    return host in ("localhost", "::1", "[::1]") or host.startswith("127.")


class _Client:
    def __init__(self, registry: str, repository: str):
        self.registry = registry
        self.repository = repository
        self.token = None
        self.scheme = "http" if _loopback(registry) else "https"

    def get(self, path: str, accept: str = "") -> Tuple[bytes, dict]:
        url = "%s://%s/v2/%s/%s" % (self.scheme, self.registry, self.repository, path)
        for attempt in range(2):
            request = urllib.request.Request(url)
            if accept:
                request.add_header("Accept", accept)
            if self.token:
                request.add_header("Authorization", "Bearer " + self.token)
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                    return response.read(), dict(response.headers)
            except urllib.error.HTTPError as err:
                if err.code == 401 and attempt == 0 and self._authenticate(err.headers.get("WWW-Authenticate", "")):
                    continue
                raise
        raise OSError("unauthorized")

    def _authenticate(self, challenge: str) -> bool:
        if not challenge.lower().startswith("bearer "):
            return False
        fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = fields.pop("realm", "")
        if not realm:
            return False
        fields.setdefault("scope", "repository:%s:pull" % self.repository)
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(fields)
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            answer = json.loads(response.read().decode("utf-8"))
        self.token = answer.get("token") or answer.get("access_token")
        return bool(self.token)


def fetch_config(image: str) -> dict:
    """The image's config object (``config`` of the image JSON). Raises OSError/ValueError on failure."""
    registry, repository, reference = split_reference(image)
    client = _Client(registry, repository)
    body, headers = client.get("manifests/" + reference, _ACCEPT)
    manifest = json.loads(body.decode("utf-8"))
    if "manifests" in manifest:  # an index: take this machine's platform
        arch = _ARCH.get(platform.machine().lower(), platform.machine().lower())
        chosen = None
        for entry in manifest["manifests"]:
            plat = entry.get("platform") or {}
            if plat.get("os") == "linux" and plat.get("architecture") == arch:
                chosen = entry
                break
        if chosen is None:
            raise ValueError("no linux/%s image in %s" % (arch, image))
        body, headers = client.get("manifests/" + chosen["digest"], _ACCEPT)
        manifest = json.loads(body.decode("utf-8"))
    digest = manifest["config"]["digest"]
    body, _ = client.get("blobs/" + digest)
    if hashlib.sha256(body).hexdigest() != digest.split(":", 1)[-1]:
        raise ValueError("config digest mismatch for %s" % image)
    return json.loads(body.decode("utf-8")).get("config") or {}


def load_config(image: str) -> Optional[dict]:
    """The config of ``image`` from the cache or its registry; None when it cannot be had."""
    if image == "scratch":
        return {}
    from .cache import cache_folder, write_atomic

    key = hashlib.sha256(image.encode("utf-8")).hexdigest()[:32]
    folder = cache_folder()
    path = os.path.join(folder, "configs", key + ".json") if folder else None
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                cached = json.load(handle)
            if cached.get("image") == image and time.time() - cached.get("fetched", 0) < CACHE_SECONDS:
                return cached["config"]
        except (OSError, ValueError, KeyError, AttributeError):
            pass
    try:
        config = fetch_config(image)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if path:
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            write_atomic(path, json.dumps({"image": image, "fetched": time.time(), "config": config}))
        except OSError:
            pass
    return config
