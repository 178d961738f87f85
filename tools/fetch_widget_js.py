"""Fetch the JavaScript that renders the book's static ipywidgets (sliders), so that pages need no CDN.

myst-nb embeds each widget's state in the page and, by default, loads two scripts from CDNs to draw it: RequireJS and
the ``@jupyter-widgets/html-manager`` bundle. The book serves its own copies instead (``nb_ipywidgets_js`` in
``_config.yml`` points at ``_static/widgets/``). This script downloads the two npm packages from the npm registry
(pinned versions, checked against the registry's sha512 integrity), and copies the files the pages need into
``.widgets_js/widgets/``, which the book build copies to ``_build/html/_static/widgets/``. ``make book`` runs it; it
does nothing when the files are already there. ``embed-amd.js`` gets two small fixes (``patch_embed_amd``: the
fonts' folder, and a MathJax-2 shim over MathJax 3).

    python tools/fetch_widget_js.py [--dest .widgets_js/widgets] [--force]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import re
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

# Two fixes applied to embed-amd.js after the digest check (the pinned bundle is unchanged on the registry):
# 1. Each webpack bundle in it takes its public path (where the Font Awesome fonts of its CSS live) from its RequireJS
#    module id, resolved against the PAGE (chapters/04_dcgan/@jupyter-widgets/html-manager/dist/....woff2: six 404s
#    on each widget page). The prelude records the folder of the script itself (document.currentScript, i.e.
#    _static/widgets/, where the fonts are) and the bundles resolve against it.
# 2. The widget manager typesets labels with MathJax 2's API (MathJax.Hub.Queue); the book runs MathJax 3, so every
#    label threw a TypeError and stayed plain text. The prelude is a MathJax-2 shim over MathJax 3's typesetPromise
#    (it waits for MathJax to load and start up), and the one call site uses it when there is no MathJax.Hub.
PATCH_VERSION = "2"
PRELUDE = """/* course book (tools/fetch_widget_js.py): the bundle's own folder and a MathJax-2 shim over MathJax 3 */
var __courseWidgetBase = (document.currentScript && document.currentScript.src || "").replace(/[^\\/]*$/, "");
function __courseTypeset(element) {
  var tries = 0;
  (function typeset() {
    var M = window.MathJax;
    if (M && M.Hub && M.Hub.Queue) { M.Hub.Queue(["Typeset", M.Hub, element]); return; }
    if (M && M.typesetPromise && M.startup && M.startup.promise) {
      M.startup.promise.then(function () { return M.typesetPromise([element]); })
        .catch(function (err) { console.warn("MathJax could not typeset a widget label", err); });
      return;
    }
    if (tries++ < 200) setTimeout(typeset, 50);
  })();
}
"""
# (pattern in the bundle, its replacement, how many times it must occur: None for at least once)
REPLACEMENTS = [
    (r"new URL\(([A-Za-z_$][\w$]*)\.uri,document\.location\)", r"new URL(__courseWidgetBase||\1.uri,document.location)",
     None),
    (re.escape('MathJax.Hub.Queue(["Typeset",MathJax.Hub,e])'), "__courseTypeset(e)", 1),
]


def patch_embed_amd(text: str) -> str:
    """embed-amd.js with the prelude and the two replacements (each must be found, else SystemExit)."""
    for pattern, replacement, count in REPLACEMENTS:
        text, found = re.subn(pattern, replacement, text)
        if found == 0 or (count is not None and found != count):
            raise SystemExit(f"fetch_widget_js: expected {count or 'some'} of {pattern!r} in embed-amd.js, "
                             f"found {found}")
    return PRELUDE + text


def _stamp_text() -> str:
    return "\n".join(f"{name}@{version}" for name, version, _, _ in PACKAGES) + f"\npatch {PATCH_VERSION}\n"


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
                data = extracted.read()
                if local == "embed-amd.js":
                    data = patch_embed_amd(data.decode("utf-8")).encode("utf-8")
                (dest / local).write_bytes(data)
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
