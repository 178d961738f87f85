"""PASCAL VOC annotations: a parser for its XML files and a wrapper of torchvision's VOC dataset (Colab).

A VOC annotation (Everingham et al. 2010) is one XML file per image::

    <annotation>
      <filename>000005.jpg</filename>
      <size><width>500</width><height>375</height><depth>3</depth></size>
      <object>
        <name>chair</name><truncated>0</truncated><difficult>1</difficult>
        <bndbox><xmin>263</xmin><ymin>211</ymin><xmax>324</xmax><ymax>339</ymax></bndbox>
      </object>
      ...
    </annotation>

**Coordinates.** VOC counts pixels from 1, and ``xmin..xmax`` are *inclusive*: the box above covers the pixel columns
263, 264, ..., 324, that is :math:`324 - 263 + 1 = 62` pixels. The course uses continuous pixel coordinates
everywhere (pixel :math:`j`, counted from 0, is the interval :math:`[j, j + 1)`, as in ``torchvision.ops`` where
``area = (x2 - x1) (y2 - y1)``). The 1-based inclusive pixel :math:`p` is the 0-based interval :math:`[p - 1, p)`, so
:func:`parse_voc_xml` returns

.. math::
    x_1 = x_{\\min} - 1,\\qquad y_1 = y_{\\min} - 1,\\qquad x_2 = x_{\\max},\\qquad y_2 = y_{\\max},

which keeps the width equal to the number of pixels (62 above) and puts a box that spans the whole image at
:math:`[0, W] \\times [0, H]`. (Implementations that subtract 1 from all four numbers get 0-based *inclusive* indices
instead, and must add 1 to every width; mixing the two conventions shifts boxes by one pixel.)

**Difficult objects** (``<difficult>1</difficult>``) are kept, with a flag: VOC's evaluation counts them neither as
true nor as false positives (:func:`course_lib.detection.metrics.mean_average_precision` reads the flag).

:class:`VOCDetection` follows the download policy of :func:`course_lib.data.mnist_downloads_allowed`: it downloads
only on request or outside the ``fast`` profile, and says in one line what it loaded. There is no offline VOC; the
offline stand-ins are :class:`course_lib.detection.datasets.ShapesDetection` and
:class:`~course_lib.detection.datasets.MNISTDetection`.
"""

from __future__ import annotations

import contextlib
import io
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from course_lib.data.mnist import DATA_DIR_ENV, mnist_downloads_allowed

__all__ = ["VOC_CLASSES", "parse_voc_xml", "VOCDetection", "default_voc_root"]

#: The 20 PASCAL VOC classes in the standard order (label :math:`i` is ``VOC_CLASSES[i]``).
VOC_CLASSES: tuple[str, ...] = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)

_VOC_YEARS = ("2007", "2008", "2009", "2010", "2011", "2012")


# ----------------------------------------------------------------------------------------------------------------------
# The XML parser
# ----------------------------------------------------------------------------------------------------------------------
def _read_xml(source: str | os.PathLike[str] | bytes) -> tuple[ET.Element, str]:
    """Parse XML text, bytes or a file; return the root element and a name for error messages."""
    if isinstance(source, bytes):
        text, where = source.decode("utf-8", errors="replace"), "the XML bytes"
    elif isinstance(source, str) and source.lstrip().startswith("<"):
        text, where = source, "the XML string"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"no VOC annotation file at {path} (pass a path or the XML text itself).")
        text, where = path.read_text(encoding="utf-8", errors="replace"), str(path)
    else:
        raise TypeError(f"expected a path, an XML string or bytes, got {type(source).__name__}.")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        raise ValueError(f"malformed VOC XML in {where}: {err} (a truncated or hand-edited file?).") from err
    return root, where


def _child_text(parent: ET.Element, tag: str, where: str, required: bool = True) -> str | None:
    """Stripped text of ``parent/tag``; ValueError when required and missing or empty."""
    node = parent.find(tag)
    text = node.text.strip() if node is not None and node.text is not None else ""
    if not text:
        if required:
            raise ValueError(f"VOC annotation {where} has no <{tag}> inside <{parent.tag}>.")
        return None
    return text


def _number(parent: ET.Element, tag: str, where: str) -> float:
    text = _child_text(parent, tag, where)
    assert text is not None
    try:
        return float(text)
    except ValueError as err:
        raise ValueError(f"VOC annotation {where}: <{tag}> should be a number, got {text!r}.") from err


def _flag(parent: ET.Element, tag: str, where: str) -> bool:
    """``<tag>0</tag>`` / ``<tag>1</tag>``; a missing tag means 0 (some VOC test files omit ``difficult``)."""
    text = _child_text(parent, tag, where, required=False)
    if text is None:
        return False
    if text not in ("0", "1"):
        raise ValueError(f"VOC annotation {where}: <{tag}> should be 0 or 1, got {text!r}.")
    return text == "1"


def parse_voc_xml(source: str | os.PathLike[str] | bytes,
                  class_names: Sequence[str] = VOC_CLASSES) -> dict[str, Any]:
    r"""Read one PASCAL VOC annotation into tensors.

    Boxes come back in continuous 0-based pixel coordinates (module docstring):
    :math:`(x_1, y_1, x_2, y_2) = (x_{\min} - 1,\ y_{\min} - 1,\ x_{\max},\ y_{\max})`, so that
    :math:`x_2 - x_1 = x_{\max} - x_{\min} + 1` is the box's width in pixels. Coordinates are read as floats (a few
    VOC 2012 files have fractional ones). Missing ``<difficult>`` or ``<truncated>`` mean 0.

    Args:
        source: a path to the ``.xml`` file, the XML text itself (a string starting with ``<``), or bytes.
        class_names: the label of a name is its index in this sequence (default: :data:`VOC_CLASSES`).

    Returns:
        A dict with
        ``boxes``: ``Tensor[K, 4]`` float32 xyxy in pixels;
        ``labels``: ``Tensor[K]`` int64, indices into ``class_names``;
        ``difficult``: ``Tensor[K]`` bool; ``truncated``: ``Tensor[K]`` bool;
        ``names``: ``list[str]`` (K class names as written); ``size``: ``(H, W)`` ints;
        ``filename``: ``str`` or ``None`` when the file has no ``<filename>``.
        An image without ``<object>`` gives ``K = 0`` (``boxes`` of shape ``[0, 4]``).

    Raises:
        TypeError: ``source`` is not a path, string or bytes.
        FileNotFoundError: ``source`` looks like a path and no file is there.
        ValueError: malformed XML (e.g. a truncated file), a root other than ``<annotation>``, a missing
            ``<size>``/``<width>``/``<height>``, an object without ``<name>`` or ``<bndbox>`` or one of its four
            coordinates, a coordinate that is not a number, ``xmax < xmin`` or ``ymax < ymin``, a flag other than
            0/1, or a class name not in ``class_names``. The message says which object and field.
    """
    if isinstance(class_names, str) or not all(isinstance(c, str) for c in class_names):
        raise TypeError("class_names must be a sequence of strings (e.g. VOC_CLASSES).")
    index = {name: i for i, name in enumerate(class_names)}
    root, where = _read_xml(source)
    if root.tag != "annotation":
        raise ValueError(f"{where} is not a VOC annotation: its root element is <{root.tag}>, not <annotation>.")

    filename = _child_text(root, "filename", where, required=False)
    size = root.find("size")
    if size is None:
        raise ValueError(f"VOC annotation {where} has no <size> (width and height of the image).")
    width, height = _number(size, "width", where), _number(size, "height", where)
    if width <= 0 or height <= 0 or width != int(width) or height != int(height):
        raise ValueError(f"VOC annotation {where}: <size> must hold positive integers, got width={width}, "
                         f"height={height}.")

    boxes: list[list[float]] = []
    labels: list[int] = []
    difficult: list[bool] = []
    truncated: list[bool] = []
    names: list[str] = []
    for k, obj in enumerate(root.findall("object")):
        what = f"{where}, object {k}"
        name = _child_text(obj, "name", what)
        assert name is not None
        if name not in index:
            raise ValueError(f"VOC annotation {what}: unknown class {name!r}; expected one of {tuple(class_names)}.")
        bndbox = obj.find("bndbox")
        if bndbox is None:
            raise ValueError(f"VOC annotation {what} ({name}) has no <bndbox>.")
        xmin, ymin, xmax, ymax = (_number(bndbox, tag, what) for tag in ("xmin", "ymin", "xmax", "ymax"))
        if xmax < xmin or ymax < ymin:
            raise ValueError(f"VOC annotation {what} ({name}): the box needs xmin <= xmax and ymin <= ymax, got "
                             f"xmin={xmin}, ymin={ymin}, xmax={xmax}, ymax={ymax}.")
        # 1-based inclusive pixels -> 0-based continuous edges: x1 = xmin - 1, x2 = xmax
        boxes.append([xmin - 1.0, ymin - 1.0, xmax, ymax])
        labels.append(index[name])
        difficult.append(_flag(obj, "difficult", what))
        truncated.append(_flag(obj, "truncated", what))
        names.append(name)

    return {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),      # (K, 4)
        "labels": torch.tensor(labels, dtype=torch.int64),                      # (K,)
        "difficult": torch.tensor(difficult, dtype=torch.bool),                 # (K,)
        "truncated": torch.tensor(truncated, dtype=torch.bool),                 # (K,)
        "names": names,
        "size": (int(height), int(width)),
        "filename": filename,
    }


# ----------------------------------------------------------------------------------------------------------------------
# torchvision's VOC, wrapped
# ----------------------------------------------------------------------------------------------------------------------
def default_voc_root() -> Path:
    """``$COURSE_DATA_DIR/voc`` when ``COURSE_DATA_DIR`` is set, else ``~/.cache/course_lib/voc``."""
    base = os.environ.get(DATA_DIR_ENV, "").strip()
    if base:
        return Path(base).expanduser() / "voc"
    return Path.home() / ".cache" / "course_lib" / "voc"


def _pil_to_tensor(img: Any) -> Tensor:
    r"""A PIL image as float32 ``(3, H, W)`` with :math:`x = v / 255 \in [0, 1]`."""
    from torchvision.transforms.v2 import functional as TF  # lazy: torchvision is slow to import

    t = TF.pil_to_tensor(img.convert("RGB"))                       # uint8 (3, H, W)
    return t.to(torch.float32) / 255.0


class VOCDetection(Dataset):
    """PASCAL VOC through ``torchvision.datasets.VOCDetection``, returning tensors in the course's conventions.

    ``dataset[i]`` is ``(image, target)``: ``image`` float32 ``Tensor[3, H, W]`` in [0, 1], ``target`` a dict with
    ``boxes`` (``Tensor[K, 4]`` float32 xyxy in pixels, see :func:`parse_voc_xml` for the 1-based conversion),
    ``labels`` (``Tensor[K]`` int64 indices into :data:`VOC_CLASSES`) and ``difficult`` (``Tensor[K]`` bool); then
    ``transforms(image, target)`` if given (e.g. a :class:`course_lib.detection.transforms.DetectionTransform`).

    Downloads (about 2 GB for 2012) only when :func:`course_lib.data.mnist_downloads_allowed` allows it:
    ``download=True``, or ``download=None`` outside the ``fast`` profile with ``COURSE_OFFLINE`` unset. Otherwise
    the files must already be under ``root`` (``root/VOCdevkit/VOC<year>``).

    Args:
        root: folder holding (or to receive) ``VOCdevkit``; default :func:`default_voc_root`.
        year: ``"2007"`` ... ``"2012"``.
        image_set: ``"train"``, ``"trainval"``, ``"val"`` (and ``"test"`` for 2007).
        download: True / False / None (decided by the profile), as for MNIST.
        transforms: callable ``(image, target) -> (image, target)`` applied last.
        keep_difficult: keep the boxes flagged difficult (with ``difficult=True``); False drops them.
        verbose: print one line saying what was loaded.

    Raises:
        RuntimeError: the files are missing and downloads are off (the message says why and what to do), or the
            download failed.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, year: str = "2012", image_set: str = "train",
                 download: bool | None = None,
                 transforms: Callable[[Tensor, dict[str, Tensor]], tuple[Tensor, dict[str, Tensor]]] | None = None,
                 keep_difficult: bool = True, verbose: bool = True) -> None:
        if year not in _VOC_YEARS:
            raise ValueError(f"year must be one of {_VOC_YEARS}, got {year!r}.")
        valid_sets = ("train", "trainval", "val", "test") if year == "2007" else ("train", "trainval", "val")
        if image_set not in valid_sets:
            raise ValueError(f"image_set must be one of {valid_sets} for VOC {year}, got {image_set!r}.")
        if download is not None and not isinstance(download, bool):
            raise TypeError(f"download must be True, False or None, got {download!r}.")
        if transforms is not None and not callable(transforms):
            raise TypeError(f"transforms must be callable (image, target) -> (image, target), got "
                            f"{type(transforms).__name__}.")
        if not isinstance(keep_difficult, bool):
            raise TypeError(f"keep_difficult must be a bool, got {type(keep_difficult).__name__}.")
        if root is not None and not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"root must be a path or None, got {type(root).__name__}.")
        self.root = Path(root).expanduser() if root is not None else default_voc_root()
        self.year, self.image_set = year, image_set
        self.transforms = transforms
        self.keep_difficult = keep_difficult

        from torchvision.datasets import VOCDetection as TorchvisionVOC  # lazy import

        on_disk = (self.root / "VOCdevkit" / f"VOC{year}").is_dir()
        allowed, reason = mnist_downloads_allowed(download)
        if not on_disk and not allowed:
            raise RuntimeError(
                f"PASCAL VOC {year} is not under {self.root} (expected {self.root / 'VOCdevkit' / f'VOC{year}'}) "
                f"and downloads are off ({reason}). Pass download=True (on Colab), set root= to a copy, or use the "
                f"offline ShapesDetection / MNISTDetection from course_lib.detection.datasets.")
        try:
            with contextlib.redirect_stdout(io.StringIO()):             # keep the one-line rule
                self._voc = TorchvisionVOC(str(self.root), year=year, image_set=image_set,
                                           download=not on_disk and allowed)
        except Exception as err:  # noqa: BLE001 - say what failed, in one line
            raise RuntimeError(f"could not load PASCAL VOC {year} {image_set} under {self.root}: "
                               f"{type(err).__name__}: {err}") from err
        if verbose:
            how = "found on disk" if on_disk else f"downloaded ({reason})"
            print(f"VOC: PASCAL VOC {year} {image_set}, {len(self._voc):,} images ({how}, {self.root})")

    def __len__(self) -> int:
        return len(self._voc)

    def __getitem__(self, index: int) -> tuple[Tensor, dict[str, Tensor]]:
        from PIL import Image

        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range for {len(self)} images.")
        with Image.open(self._voc.images[index]) as img:
            image = _pil_to_tensor(img)                                  # (3, H, W) in [0, 1]
        ann = parse_voc_xml(self._voc.annotations[index])
        keep = torch.ones_like(ann["difficult"]) if self.keep_difficult else ~ann["difficult"]
        target = {"boxes": ann["boxes"][keep], "labels": ann["labels"][keep], "difficult": ann["difficult"][keep]}
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        return image, target
