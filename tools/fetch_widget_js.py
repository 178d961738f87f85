"""Fetch the JavaScript that renders the book's static ipywidgets (sliders), so that pages need no CDN.

myst-nb embeds each widget's state in the page and, by default, loads two scripts from CDNs to draw it: RequireJS and
the ``@jupyter-widgets/html-manager`` bundle. The book serves its own copies instead (``nb_ipywidgets_js`` in
``_config.yml`` points at ``_static/widgets/``). This script downloads the two npm packages from the npm registry
(pinned versions, checked against the registry's sha512 integrity), and copies the files the pages need into
``.widgets_js/widgets/``, which the book build copies to ``_build/html/_static/widgets/``. ``make book`` runs it; it
does nothing when the files are already there.

    python tools/fetch_widget_js.py [--dest .widgets_js/widgets] [--force]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (name, version, tarball URL, sha512 integrity from the registry's metadata, files to keep: tar path -> local name)
PACKAGES = [
    ("requirejs", "2.3.4", "https://registry.npmjs.org/requirejs/-/requirejs-2.3.4.tgz",
     "sha512-qPD5gRrj6kGQ0ZySAJgqbArkaDqPMbQIT0zSZDkIv1mfA17w/tR2Faq5l2qqRf2CdQx6FWln9nUrgd2UDzb19A=="),
    ("@jupyter-widgets/html-manager", "1.0.6",
     "https://registry.npmjs.org/@jupyter-widgets/html-manager/-/html-manager-1.0.6.tgz",
     "sha512-+Mn+Ra8wyIHrYaUpfmf9A3dsLkt/NuwzPQN8sthdxBD35VV5cOJbpmgMhNR27n/rmP3mKyEe0PWCJrtZrXTXDQ=="),
]
FONT_SUFFIXES = (".woff", ".woff2", ".ttf", ".eot", ".svg")  # Font Awesome, loaded by the widgets' CSS
STAMP = ".fetched"


def _stamp_text() -> str:
    return "\n".join(f"{name}@{version}" for name, version, _, _ in PACKAGES) + "\n"


def _download(url: str, integrity: str, attempts: int = 3) -> bytes:
    algo, _, expected = integrity.partition("-")
    last: Exception | None = None
    for attempt in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                data = response.read()
            break
        except OSError as err:  # URLError is an OSError
            last = err
            time.sleep(2 * (attempt + 1))
    else:
        raise SystemExit(f"fetch_widget_js: could not download {url} ({last}). The book's widget scripts come from "
                         "the npm registry: check the network, or copy the files into .widgets_js/widgets by hand.")
    digest = base64.b64encode(hashlib.new(algo, data).digest()).decode()
    if digest != expected:
        raise SystemExit(f"fetch_widget_js: {url} does not match its pinned {algo} digest: refusing to use it.")
    return data


def _wanted(name: str, member: str) -> str | None:
    """The local file name for a tar member we keep, else None."""
    if name == "requirejs":
        return {"package/require.js": "require.js", "package/LICENSE": "LICENSE.requirejs"}.get(member)
    if member == "package/dist/embed-amd.js":
        return "embed-amd.js"
    if member == "package/LICENSE.md" or member == "package/LICENSE":
        return "LICENSE.html-manager"
    if member.startswith("package/dist/") and member.endswith(FONT_SUFFIXES) and member.count("/") == 2:
        return member.rsplit("/", 1)[1]
    return None


def fetch(dest: Path, force: bool = False) -> bool:
    """Download and unpack into ``dest``; return False when it was already there."""
    stamp = dest / STAMP
    if not force and stamp.is_file() and stamp.read_text() == _stamp_text() and (dest / "embed-amd.js").is_file():
        return False
    dest.mkdir(parents=True, exist_ok=True)
    for name, version, url, integrity in PACKAGES:
        data = _download(url, integrity)
        kept = 0
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar.getmembers():
                local = _wanted(name, member.name)
                if local is None or not member.isfile():
                    continue
                extracted = tar.extractfile(member)
                assert extracted is not None
                (dest / local).write_bytes(extracted.read())
                kept += 1
        print(f"fetch_widget_js: {name}@{version}: {kept} file(s) -> {dest}")
    for needed in ("require.js", "embed-amd.js"):
        if not (dest / needed).is_file():
            raise SystemExit(f"fetch_widget_js: {needed} was not found in the downloaded packages.")
    stamp.write_text(_stamp_text())
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=ROOT / ".widgets_js" / "widgets")
    parser.add_argument("--force", action="store_true", help="download again even if the files are there")
    args = parser.parse_args(argv)
    if not fetch(args.dest, args.force):
        print(f"fetch_widget_js: {args.dest} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
