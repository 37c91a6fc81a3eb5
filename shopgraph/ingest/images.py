"""Image URLs: downloaded only when asked (`ingest --fetch-images`), bounded and checked like uploads.

Without fetching, a URL image is recorded as a URL (Product.images) and the run summary counts
"images not fetched (URL)". With it, `ImageFetcher.fetch(url)`:

- takes http and https URLs only, resolves the host itself and refuses loopback, private, link-local,
  multicast and other non-global addresses unless config ingest.fetch_allow_private (a catalog must
  not make the ingest reach services inside the network); the connection goes to the address that was
  checked (no second DNS answer can swap it), and each redirect (at most MAX_REDIRECTS) is checked
  again the same way;
- reads at most ingest.fetch_max_bytes within ingest.fetch_timeout seconds (per operation and overall);
- checks the bytes as the server checks an uploaded photo (serve.uploads.check_image: a JPEG, PNG,
  WebP, GIF, BMP or TIFF that decodes, within the pixel limit);
- keeps the file in the cache folder (`<db>.images/`, inside the database's folder) under a name made
  from the URL's SHA-256, written atomically; a URL already there is never downloaded again.

Every failure is an ImageFetchError with a one-line reason: the product is kept without its image and
the summary counts it ("images not downloaded").
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import os
import socket
import tempfile
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from shopgraph.errors import ShopGraphError

MAX_REDIRECTS = 3
_CHUNK = 64 * 1024
USER_AGENT = "shopgraph-ingest"


class ImageFetchError(ShopGraphError):
    """An image URL could not be downloaded or is not an acceptable image."""


def url_cache_name(url: str) -> str:
    """The cache file name of a URL (its SHA-256; the content is checked, the name never trusted)."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest() + ".img"


class ImageFetcher:
    """Downloads image URLs into `folder` (see the module docstring). settings: an IngestConfig."""

    def __init__(self, folder: Path, settings):
        self.folder = Path(folder)
        self.max_bytes = int(settings.fetch_max_bytes)
        self.timeout = float(settings.fetch_timeout)
        self.allow_private = bool(settings.fetch_allow_private)
        self.downloads = 0

    def __call__(self, url: str) -> tuple[Path, str]:
        return self.fetch(url)

    def fetch(self, url: str) -> tuple[Path, str]:
        """(cached file, SHA-256 of its bytes) of an image URL; ImageFetchError otherwise."""
        target = self.folder / url_cache_name(url)
        if target.is_file():
            data = target.read_bytes()
            return target, hashlib.sha256(data).hexdigest()
        data = self._download(url)
        _check(data, self.max_bytes)
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.downloads += 1
        return target, hashlib.sha256(data).hexdigest()

    def _download(self, url: str) -> bytes:
        deadline = time.monotonic() + self.timeout
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ImageFetchError(f"not an http(s) URL: {url[:200]}")
            address = self._checked_address(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
            status, location, data = self._get(parts, address, deadline)
            if status in (301, 302, 303, 307, 308):
                if not location:
                    raise ImageFetchError(f"redirect without a location from {url[:200]}")
                url = urljoin(url, location)
                continue
            if status != 200:
                raise ImageFetchError(f"HTTP {status} from {url[:200]}")
            return data
        raise ImageFetchError(f"more than {MAX_REDIRECTS} redirects from {url[:200]}")

    def _checked_address(self, host: str, port: int) -> tuple[str, int]:
        """The first address of host, after checking every address it resolves to."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as e:
            raise ImageFetchError(f"cannot resolve {host}: {e}") from None
        addresses = [info[4][0] for info in infos]
        if not addresses:
            raise ImageFetchError(f"cannot resolve {host}")
        if not self.allow_private:
            for address in addresses:
                ip = ipaddress.ip_address(address.split("%")[0])
                if not ip.is_global or ip.is_multicast:
                    raise ImageFetchError(f"{host} is a private, loopback or reserved address ({ip}); set "
                                          f"ingest.fetch_allow_private to allow it")
        return addresses[0], port

    def _get(self, parts, address: tuple[str, int], deadline: float) -> tuple[int, str | None, bytes]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ImageFetchError(f"timed out after {self.timeout:g} s")
        host = parts.hostname
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = cls(host, address[1], timeout=min(self.timeout, remaining))
        # Connect to the checked address (TLS still verifies the host name): no second DNS answer.
        conn._create_connection = lambda _addr, timeout, source=None: socket.create_connection(
            address, timeout, source)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        try:
            conn.request("GET", path, headers={"Host": parts.netloc, "User-Agent": USER_AGENT, "Accept": "image/*"})
            response = conn.getresponse()
            if response.status in (301, 302, 303, 307, 308):
                return response.status, response.getheader("Location"), b""
            length = response.getheader("Content-Length")
            if length and length.isdigit() and int(length) > self.max_bytes:
                raise ImageFetchError(f"image of {int(length):,} bytes; the limit is {self.max_bytes:,} "
                                      f"(ingest.fetch_max_bytes)")
            data = bytearray()
            while True:
                if time.monotonic() > deadline:
                    raise ImageFetchError(f"timed out after {self.timeout:g} s")
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                data += chunk
                if len(data) > self.max_bytes:
                    raise ImageFetchError(f"image larger than {self.max_bytes:,} bytes (ingest.fetch_max_bytes)")
            return response.status, None, bytes(data)
        except ImageFetchError:
            raise
        except (OSError, http.client.HTTPException) as e:
            raise ImageFetchError(f"download failed: {type(e).__name__}: {str(e)[:120]}") from None
        finally:
            conn.close()


def _check(data: bytes, max_bytes: int) -> None:
    from shopgraph.errors import BadArgumentError
    from shopgraph.ingest.encoders.image import MAX_PIXELS
    from shopgraph.serve.uploads import check_image

    try:
        check_image(data, max_bytes, MAX_PIXELS)
    except BadArgumentError as e:
        raise ImageFetchError(str(e).replace("the upload", "the download").replace("the image upload", "the download")) \
            from None
