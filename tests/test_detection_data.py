"""Tests of the detection data: VOC XML parsing and the VOC wrapper (on a fake VOCdevkit, no network), the two
generated data sets (determinism, ranges, boxes tight around the painted pixels / the ink, labels that match the
pixels), collate and normalisation, augmentations that move boxes with the pixels, and the box-drawing helpers.

References: closed forms (flip, translation, scaling, resize of a box), the pixels themselves (the tight box of what
was painted), the real MNIST digits (the crop inside a box is a source digit with that label), torchvision's
``F.interpolate`` and our ``box_iou``.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from course_lib.detection.boxes import box_iou  # noqa: E402
from course_lib.detection.datasets import (  # noqa: E402
    BACKGROUNDS,
    DIGIT_CLASSES,
    SHAPE_CLASSES,
    MNISTDetection,
    ShapesDetection,
    _overlaps_np,
    _resample_matrix,
    denormalize_boxes,
    detection_collate,
    normalize_boxes,
    normalize_target,
)
from course_lib.detection.transforms import (  # noqa: E402
    ColorJitter,
    DetectionTransform,
    RandomHorizontalFlip,
    RandomScaleTranslate,
    Resize,
    hflip,
    resize,
    scale_translate,
)
from course_lib.detection.voc import VOC_CLASSES, VOCDetection, parse_voc_xml  # noqa: E402
from course_lib.viz.boxes import draw_boxes, draw_grid, mark_cells  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _max0(t: torch.Tensor) -> float:
    """The largest entry, 0 for an empty tensor."""
    return float(t.max()) if t.numel() else 0.0


def _tight(mask: torch.Tensor) -> list[float]:
    """Reference tight box of a 2-D boolean mask, pixel j = [j, j + 1), written with torch.nonzero."""
    ys, xs = torch.nonzero(mask, as_tuple=True)
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


# ----------------------------------------------------------------------------------------------------------------
# VOC XML
# ----------------------------------------------------------------------------------------------------------------
VOC_XML = """<annotation>
  <folder>VOC2007</folder>
  <filename>000005.jpg</filename>
  <size><width>500</width><height>375</height><depth>3</depth></size>
  <object>
    <name>chair</name><pose>Rear</pose><truncated>0</truncated><difficult>0</difficult>
    <bndbox><xmin>263</xmin><ymin>211</ymin><xmax>324</xmax><ymax>339</ymax></bndbox>
  </object>
  <object>
    <name>person</name><truncated>1</truncated><difficult>1</difficult>
    <bndbox><xmin>1</xmin><ymin>1</ymin><xmax>500</xmax><ymax>375</ymax></bndbox>
  </object>
  <object>
    <name>tvmonitor</name>
    <bndbox><xmin>10.5</xmin><ymin>20</ymin><xmax>10.5</xmax><ymax>30</ymax></bndbox>
  </object>
</annotation>"""


def test_voc_classes_standard_order():
    assert len(VOC_CLASSES) == 20 and len(set(VOC_CLASSES)) == 20
    assert list(VOC_CLASSES) == sorted(VOC_CLASSES)  # VOC's order is alphabetical
    assert VOC_CLASSES[0] == "aeroplane" and VOC_CLASSES[14] == "person" and VOC_CLASSES[19] == "tvmonitor"


def test_parse_voc_xml_fields_and_coordinate_convention():
    ann = parse_voc_xml(VOC_XML)
    # 1-based inclusive pixels -> continuous 0-based edges: (xmin - 1, ymin - 1, xmax, ymax)
    expected = torch.tensor([[262, 210, 324, 339], [0, 0, 500, 375], [9.5, 19, 10.5, 30]], dtype=torch.float32)
    assert ann["boxes"].dtype == torch.float32 and torch.equal(ann["boxes"], expected)
    widths = ann["boxes"][:, 2] - ann["boxes"][:, 0]
    assert widths[0] == 324 - 263 + 1  # the number of pixel columns covered
    assert ann["labels"].dtype == torch.int64
    assert ann["labels"].tolist() == [VOC_CLASSES.index(n) for n in ("chair", "person", "tvmonitor")]
    assert ann["difficult"].dtype == torch.bool and ann["difficult"].tolist() == [False, True, False]
    assert ann["truncated"].tolist() == [False, True, False]  # missing flags mean 0
    assert ann["names"] == ["chair", "person", "tvmonitor"]
    assert ann["size"] == (375, 500) and ann["filename"] == "000005.jpg"


def test_parse_voc_xml_from_path_bytes_and_without_objects(tmp_path):
    path = tmp_path / "a.xml"
    path.write_text(VOC_XML)
    from_path, from_bytes = parse_voc_xml(path), parse_voc_xml(VOC_XML.encode())
    assert torch.equal(from_path["boxes"], from_bytes["boxes"])
    assert torch.equal(parse_voc_xml(str(path))["labels"], from_path["labels"])
    empty = parse_voc_xml("<annotation><size><width>4</width><height>3</height></size></annotation>")
    assert empty["boxes"].shape == (0, 4) and empty["labels"].shape == (0,) and empty["difficult"].shape == (0,)
    assert empty["filename"] is None and empty["size"] == (3, 4)
    custom = parse_voc_xml(VOC_XML.replace("chair", "b").replace("person", "a").replace("tvmonitor", "a"),
                           class_names=("a", "b"))
    assert custom["labels"].tolist() == [1, 0, 0]


def _voc_with_object(obj: str, size: str = "<size><width>50</width><height>40</height></size>") -> str:
    return f"<annotation><filename>x.jpg</filename>{size}<object>{obj}</object></annotation>"


BOX = "<bndbox><xmin>2</xmin><ymin>3</ymin><xmax>9</xmax><ymax>8</ymax></bndbox>"


@pytest.mark.parametrize(
    "xml, match",
    [
        (VOC_XML[:300], "malformed"),                                  # a truncated file
        ("<annotation><size><width>5", "malformed"),
        ("<notvoc/>", "root element"),
        ("<annotation><object><name>cat</name></object></annotation>", "no <size>"),
        (_voc_with_object(f"<name>cat</name>{BOX}", "<size><width>50</width></size>"), "<height>"),
        (_voc_with_object(f"<name>cat</name>{BOX}", "<size><width>0</width><height>4</height></size>"), "positive"),
        (_voc_with_object(BOX), "<name>"),
        (_voc_with_object("<name>cat</name>"), "no <bndbox>"),
        (_voc_with_object("<name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>4</xmax></bndbox>"), "<ymax>"),
        (_voc_with_object("<name>cat</name>" + BOX.replace(">9<", ">nine<")), "number"),
        (_voc_with_object("<name>cat</name>" + BOX.replace(">9<", ">1<")), "xmin <= xmax"),
        (_voc_with_object(f"<name>unicorn</name>{BOX}"), "unknown class"),
        (_voc_with_object(f"<name>cat</name><difficult>2</difficult>{BOX}"), "0 or 1"),
    ],
)
def test_parse_voc_xml_rejects_malformed_annotations(xml, match):
    with pytest.raises(ValueError, match=match):
        parse_voc_xml(xml)


def test_parse_voc_xml_bad_source_types(tmp_path):
    with pytest.raises(TypeError, match="path, an XML string or bytes"):
        parse_voc_xml(123)
    with pytest.raises(FileNotFoundError):
        parse_voc_xml(tmp_path / "missing.xml")
    with pytest.raises(TypeError, match="class_names"):
        parse_voc_xml(VOC_XML, class_names="chair")


def _fake_voc(root, year="2012"):
    """A two-image VOCdevkit in torchvision's layout: JPEGImages, Annotations, ImageSets/Main/train.txt."""
    from PIL import Image

    base = root / "VOCdevkit" / f"VOC{year}"
    for sub in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (base / sub).mkdir(parents=True)
    colours = {"img0": (255, 0, 0), "img1": (0, 0, 255)}
    for name, rgb in colours.items():
        Image.new("RGB", (30, 20), rgb).save(base / "JPEGImages" / f"{name}.jpg", quality=100)
    (base / "Annotations" / "img0.xml").write_text(
        "<annotation><size><width>30</width><height>20</height></size>"
        "<object><name>dog</name><difficult>0</difficult><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>10</xmax>"
        "<ymax>12</ymax></bndbox></object>"
        "<object><name>cat</name><difficult>1</difficult><bndbox><xmin>20</xmin><ymin>5</ymin><xmax>30</xmax>"
        "<ymax>20</ymax></bndbox></object></annotation>")
    (base / "Annotations" / "img1.xml").write_text(
        "<annotation><size><width>30</width><height>20</height></size></annotation>")
    (base / "ImageSets" / "Main" / "train.txt").write_text("img0\nimg1\n")
    return colours


def test_voc_detection_wrapper_on_a_fake_devkit(tmp_path, capsys):
    colours = _fake_voc(tmp_path)
    ds = VOCDetection(tmp_path, year="2012", image_set="train", download=False)
    assert "VOC 2012 train, 2 images" in capsys.readouterr().out
    assert len(ds) == 2
    image, target = ds[0]
    assert image.shape == (3, 20, 30) and image.dtype == torch.float32
    assert 0.0 <= image.min() and image.max() <= 1.0
    mean = image.mean(dim=(1, 2))
    assert torch.allclose(mean, torch.tensor(colours["img0"], dtype=torch.float32) / 255, atol=0.02)  # JPEG
    assert torch.equal(target["boxes"], torch.tensor([[0.0, 1, 10, 12], [19, 4, 30, 20]]))
    assert target["labels"].tolist() == [VOC_CLASSES.index("dog"), VOC_CLASSES.index("cat")]
    assert target["difficult"].tolist() == [False, True]
    assert ds[1][1]["boxes"].shape == (0, 4)

    easy = VOCDetection(tmp_path, download=False, keep_difficult=False, verbose=False)
    assert easy[0][1]["labels"].tolist() == [VOC_CLASSES.index("dog")]
    flipped = VOCDetection(tmp_path, download=False, verbose=False,
                           transforms=DetectionTransform([RandomHorizontalFlip(p=1.0)]))
    assert torch.equal(flipped[0][1]["boxes"], torch.tensor([[20.0, 1, 30, 12], [0, 4, 11, 20]]))
    with pytest.raises(IndexError):
        ds[2]


def test_voc_detection_refuses_to_download_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    with pytest.raises(RuntimeError, match=r"downloads are off \(COURSE_OFFLINE=1\)"):
        VOCDetection(tmp_path / "nothing", download=None)
    with pytest.raises(RuntimeError, match=r"downloads are off \(download=False\)"):
        VOCDetection(tmp_path / "nothing", download=False)
    with pytest.raises(ValueError, match="year"):
        VOCDetection(tmp_path, year="2013")
    with pytest.raises(ValueError, match="image_set"):
        VOCDetection(tmp_path, year="2012", image_set="test")


# ----------------------------------------------------------------------------------------------------------------
# Generated data sets: helpers
# ----------------------------------------------------------------------------------------------------------------
def test_resample_matrix_equals_torch_antialiased_bilinear():
    gen = torch.Generator().manual_seed(0)
    for n_in, n_out in [(28, 22), (28, 56), (28, 28), (28, 11), (3, 96), (9, 112)]:
        x = torch.rand(n_in, n_in, generator=gen, dtype=torch.float64)
        ref = F.interpolate(x[None, None], size=(n_out, n_out), mode="bilinear", align_corners=False,
                            antialias=True)[0, 0]
        r = torch.from_numpy(_resample_matrix(n_out, n_in)).double()   # stored in float32
        torch.testing.assert_close(r @ x @ r.T, ref, rtol=0, atol=1e-6)
        torch.testing.assert_close(r.sum(1), torch.ones(n_out, dtype=torch.float64), rtol=0, atol=1e-6)


def test_overlaps_np_matches_box_iou():
    gen = torch.Generator().manual_seed(1)
    xy = torch.rand(30, 2, generator=gen, dtype=torch.float64) * 50
    boxes = torch.cat([xy, xy + 1 + torch.rand(30, 2, generator=gen, dtype=torch.float64) * 30], dim=1)
    special = torch.tensor([[0.0, 0, 10, 10], [10, 0, 20, 10], [2, 2, 4, 4], [0, 0, 10, 10]], dtype=torch.float64)
    a, b = torch.cat([boxes[:20], special]), torch.cat([boxes[20:], special])   # touching, nested, identical
    iou, cover = _overlaps_np(a.numpy(), b.numpy())
    torch.testing.assert_close(torch.from_numpy(iou), box_iou(a, b), rtol=1e-12, atol=1e-12)
    area = lambda t: (t[:, 2] - t[:, 0]) * (t[:, 3] - t[:, 1])  # noqa: E731
    inter = box_iou(a, b) * (area(a)[:, None] + area(b)[None]) / (1 + box_iou(a, b))
    torch.testing.assert_close(torch.from_numpy(cover), inter / torch.minimum(area(a)[:, None], area(b)[None]))
    assert cover[-2, -1] == 1.0 and cover[-4, -1] == 1.0 and cover[-3, -1] == 0.0  # nested, identical: 1; touching: 0


# ----------------------------------------------------------------------------------------------------------------
# ShapesDetection
# ----------------------------------------------------------------------------------------------------------------
def _check_sample(image, target, size, n_classes, k_range):
    assert image.shape == (3, size, size) and image.dtype == torch.float32
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    boxes, labels = target["boxes"], target["labels"]
    assert boxes.dtype == torch.float32 and labels.dtype == torch.int64
    assert boxes.shape == (labels.shape[0], 4) and k_range[0] <= labels.shape[0] <= k_range[1]
    assert bool((labels >= 0).all() and (labels < n_classes).all())
    assert bool((boxes[:, :2] >= 0).all() and (boxes[:, 2:] <= size).all())
    assert bool((boxes[:, 2:] > boxes[:, :2]).all())
    assert torch.equal(boxes, boxes.round())  # tight boxes of pixels lie on the pixel grid


def test_shapes_detection_shapes_dtypes_ranges_and_determinism():
    ds = ShapesDetection(40, image_size=96, max_objects=4, seed=3, backgrounds=("noise", "gradient", "stripes"))
    counts = []
    for i in range(len(ds)):
        image, target = ds[i]
        _check_sample(image, target, 96, 3, (1, 4))
        counts.append(target["labels"].shape[0])
    assert len(set(counts)) > 1 and set(torch.cat([ds[i][1]["labels"] for i in range(40)]).tolist()) == {0, 1, 2}
    again = ShapesDetection(10, image_size=96, max_objects=4, seed=3, backgrounds=("noise", "gradient", "stripes"))
    for i in (7, 0, 9):  # any order, any length: image i depends on (seed, i) only
        assert torch.equal(ds[i][0], again[i][0]) and torch.equal(ds[i][1]["boxes"], again[i][1]["boxes"])
    assert torch.equal(ds[-1][0], ds[39][0])
    other = ShapesDetection(10, image_size=96, seed=4, backgrounds=("noise", "gradient", "stripes"))
    assert not torch.equal(ds[0][0], other[0][0])
    assert ShapesDetection.class_names == SHAPE_CLASSES and ds.num_classes == 3


@pytest.mark.parametrize("background", BACKGROUNDS)
def test_shapes_boxes_are_tight_and_labels_match_the_shape(background):
    """One shape per image: its pixels are the ones of its (flat) colour; their tight box is the target box, and
    the fraction of the box they fill identifies the shape: 1 (square), pi/4 (circle), 1/2 (triangle)."""
    ds = ShapesDetection(12, image_size=128, max_objects=1, seed=5, backgrounds=(background,))
    for i in range(len(ds)):
        image, target = ds[i]
        _check_sample(image, target, 128, 3, (1, 1))
        box = target["boxes"][0]
        cx, cy = int((box[0] + box[2]) / 2), int((box[1] + box[3]) / 2)
        colour = image[:, cy, cx]
        assert float(colour.max()) >= 0.8  # the shape, not the background (dimmed to <= 0.55)
        mask = (image == colour[:, None, None]).all(dim=0)
        assert _tight(mask) == box.tolist()
        fill = float(mask.sum()) / float((box[2] - box[0]) * (box[3] - box[1]))
        expected = {0: np.pi / 4, 1: 1.0, 2: 0.5}[int(target["labels"][0])]
        assert abs(fill - expected) < 0.06, (i, int(target["labels"][0]), fill)


def test_shapes_visible_boxes_with_occlusion():
    """Several shapes: each box is the tight box of the pixels showing that shape's colour, and the background
    (dimmed to at most 0.55) never reaches a shape's brightest channel (>= 0.8)."""
    ds = ShapesDetection(15, image_size=96, max_objects=4, min_objects=3, seed=11, max_iou=0.3,
                         backgrounds=("gradient", "stripes"))
    for i in range(len(ds)):
        image, target = ds[i]
        _check_sample(image, target, 96, 3, (1, 4))
        assert float(image.max(dim=0).values.min()) >= 0.05
        bright = image.max(dim=0).values >= 0.8
        covered = torch.zeros(96, 96, dtype=torch.bool)
        for x1, y1, x2, y2 in target["boxes"].long().tolist():
            covered[y1:y2, x1:x2] = True
        assert not bool((bright & ~covered).any())  # every shape pixel lies in some box


def test_shapes_detection_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n_images"):
        ShapesDetection(0)
    with pytest.raises(ValueError, match="image_size"):
        ShapesDetection(5, image_size=16)
    with pytest.raises(TypeError, match="image_size"):
        ShapesDetection(5, image_size=96.0)
    with pytest.raises(ValueError, match="min_objects"):
        ShapesDetection(5, max_objects=2, min_objects=3)
    with pytest.raises(ValueError, match="unknown background"):
        ShapesDetection(5, backgrounds=("noise", "plasma"))
    with pytest.raises(TypeError, match="backgrounds"):
        ShapesDetection(5, backgrounds="noise")
    with pytest.raises(ValueError, match="seed"):
        ShapesDetection(5, seed=-1)
    with pytest.raises(ValueError, match="max_iou"):
        ShapesDetection(5, max_iou=1.5)
    with pytest.raises(ValueError, match="size_range"):
        ShapesDetection(5, size_range=(0.5, 0.2))
    with pytest.raises(TypeError, match="transforms"):
        ShapesDetection(5, transforms="flip")
    ds = ShapesDetection(5, backgrounds=("noise",))
    with pytest.raises(IndexError):
        ds[5]
    with pytest.raises(TypeError, match="index"):
        ds[1.0]


def test_shapes_cache_and_transforms():
    base = ShapesDetection(4, seed=2, backgrounds=("noise",))
    flip = DetectionTransform([RandomHorizontalFlip(p=1.0)])
    cached = ShapesDetection(4, seed=2, backgrounds=("noise",), cache=True, transforms=flip)
    for i in range(4):
        image, target = base[i]
        for _ in range(2):  # the second call reads the cache, which the flip must not have modified
            f_image, f_target = cached[i]
            assert torch.equal(f_image, image.flip(-1))
            assert torch.equal(f_target["boxes"], torch.stack([96 - target["boxes"][:, 2], target["boxes"][:, 1],
                                                               96 - target["boxes"][:, 0], target["boxes"][:, 3]], 1))
            assert torch.equal(f_target["labels"], target["labels"])


# ----------------------------------------------------------------------------------------------------------------
# MNISTDetection
# ----------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mnist_digits():
    """The real source digits (uint8-exact in [0, 1]) and labels, loaded independently of MNISTDetection."""
    from course_lib.data import load_mnist

    x, y = load_mnist(train=True, verbose=False)
    return (x[:, 0] + 1) / 2, y


def test_mnist_detection_shapes_dtypes_determinism(capsys):
    ds = MNISTDetection(30, image_size=112, max_digits=3, seed=0)
    assert "MNIST" in capsys.readouterr().out  # load_mnist says what it loaded
    counts = []
    for i in range(len(ds)):
        image, target = ds[i]
        _check_sample(image, target, 112, 10, (1, 3))
        assert torch.equal(image[0], image[1]) and torch.equal(image[1], image[2])  # white ink on black: grey
        counts.append(target["labels"].shape[0])
    assert len(set(counts)) > 1
    again = MNISTDetection(5, image_size=112, max_digits=3, seed=0, verbose=False)
    for i in (4, 0):
        assert torch.equal(ds[i][0], again[i][0]) and torch.equal(ds[i][1]["labels"], again[i][1]["labels"])
    assert not torch.equal(ds[0][0], MNISTDetection(1, seed=1, verbose=False)[0][0])
    assert MNISTDetection.class_names == DIGIT_CLASSES and ds.num_classes == 10 and ds.n_source_digits == 4000


def test_mnist_boxes_are_tight_around_the_ink():
    """Black canvas, white ink: a pixel's value is the ink opacity a. Outside every box a <= ink_threshold; with
    one digit, the box is exactly the tight box of {a > ink_threshold}."""
    thr = 0.1
    multi = MNISTDetection(25, max_digits=3, min_digits=2, seed=4, ink_threshold=thr, verbose=False)
    for i in range(len(multi)):
        image, target = multi[i]
        covered = torch.zeros(112, 112, dtype=torch.bool)
        for x1, y1, x2, y2 in target["boxes"].long().tolist():
            covered[y1:y2, x1:x2] = True
            inside = image[0, y1:y2, x1:x2] > thr
            # every edge row and column of a box holds ink (another digit may add more, never remove it)
            assert bool(inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any())
        assert _max0(image[0][~covered]) <= thr
    single = MNISTDetection(25, max_digits=1, seed=5, ink_threshold=thr, scale_range=(0.8, 2.5), verbose=False)
    for i in range(len(single)):
        image, target = single[i]
        assert _tight(image[0] > thr) == target["boxes"][0].tolist()


def test_mnist_labels_are_the_digits_in_the_boxes(mnist_digits):
    """At scale 1 the digit is pasted unresampled: the crop inside its box must equal the tight ink crop of some
    real source digit that carries the target's label (and of none with another label)."""
    x, y = mnist_digits                                                # (D, 28, 28) in [0, 1], (D,)
    thr = 0.1
    ink = x > thr
    rows, cols = ink.any(dim=2), ink.any(dim=1)                        # (D, 28) each
    idx = torch.arange(28)
    r0, r1 = torch.where(rows, idx, 28).amin(1), torch.where(rows, idx, -1).amax(1) + 1
    c0, c1 = torch.where(cols, idx, 28).amin(1), torch.where(cols, idx, -1).amax(1) + 1
    ds = MNISTDetection(8, max_digits=1, scale_range=(1.0, 1.0), seed=6, ink_threshold=thr, verbose=False)
    for i in range(len(ds)):
        image, target = ds[i]
        x1, y1, x2, y2 = target["boxes"][0].long().tolist()
        crop = image[0, y1:y2, x1:x2]
        same_size = torch.nonzero((r1 - r0 == y2 - y1) & (c1 - c0 == x2 - x1)).flatten().tolist()
        matches = {int(y[j]) for j in same_size
                   if torch.allclose(x[j, r0[j]:r1[j], c0[j]:c1[j]], crop, atol=1e-6, rtol=0)}
        assert matches == {int(target["labels"][0])}


def test_mnist_overlap_is_limited():
    ds = MNISTDetection(40, max_digits=3, min_digits=3, seed=7, max_iou=0.1, max_cover=0.25, verbose=False)
    n_pairs = 0
    for i in range(len(ds)):
        boxes = ds[i][1]["boxes"].double()
        iou = box_iou(boxes, boxes)
        off = ~torch.eye(len(boxes), dtype=torch.bool)
        assert _max0(iou[off]) <= 0.1
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        inter = iou * (area[:, None] + area[None]) / (1 + iou)
        cover = inter / torch.minimum(area[:, None], area[None])
        assert _max0(cover[off]) <= 0.25
        n_pairs += int(off.sum())
    assert n_pairs > 0


def test_mnist_texture_and_colours():
    plain = MNISTDetection(6, seed=8, verbose=False)
    textured = MNISTDetection(6, seed=8, background="texture", colored=True, verbose=False)
    for i in range(6):
        image, target = textured[i]
        _check_sample(image, target, 112, 10, (1, 3))
        assert float(image.min()) > 0.0 or float(image.mean()) > float(plain[i][0].mean())
        assert not torch.equal(image[0], image[1]) or not torch.equal(image[1], image[2])  # coloured ink


def test_mnist_detection_rejects_bad_arguments():
    with pytest.raises(ValueError, match="background"):
        MNISTDetection(3, background="white", verbose=False)
    with pytest.raises(ValueError, match="max_cover"):
        MNISTDetection(3, max_cover=-0.1, verbose=False)
    with pytest.raises(ValueError, match="image_size"):
        MNISTDetection(3, image_size=20, verbose=False)
    with pytest.raises(ValueError, match="min_digits"):
        MNISTDetection(3, min_digits=4, max_digits=3, verbose=False)
    with pytest.raises(ValueError, match="scale_range"):
        MNISTDetection(3, scale_range=(2.0, 1.0), verbose=False)
    with pytest.raises(TypeError, match="train"):
        MNISTDetection(3, train=1, verbose=False)


# ----------------------------------------------------------------------------------------------------------------
# Collate and normalisation
# ----------------------------------------------------------------------------------------------------------------
def test_detection_collate_in_a_dataloader():
    ds = ShapesDetection(10, seed=1, backgrounds=("gradient",))
    loader = torch.utils.data.DataLoader(ds, batch_size=4, shuffle=False, collate_fn=detection_collate)
    images, targets = next(iter(loader))
    assert images.shape == (4, 3, 96, 96) and isinstance(targets, list) and len(targets) == 4
    for b in range(4):
        assert torch.equal(images[b], ds[b][0]) and torch.equal(targets[b]["boxes"], ds[b][1]["boxes"])
    assert [len(t) for t in (images, targets)] == [4, 4]
    assert sum(1 for _ in loader) == 3  # 4 + 4 + 2


def test_detection_collate_rejects_bad_batches():
    with pytest.raises(ValueError, match="non-empty"):
        detection_collate([])
    with pytest.raises(ValueError, match="same shape"):
        detection_collate([(torch.zeros(3, 4, 4), {}), (torch.zeros(3, 5, 4), {})])
    with pytest.raises(ValueError, match="pair"):
        detection_collate([torch.zeros(3, 4, 4)])


def test_normalize_and_denormalize_boxes():
    boxes = torch.tensor([[0.0, 0.0, 112.0, 56.0], [16.0, 8.0, 32.0, 40.0]], dtype=torch.float64)
    norm = normalize_boxes(boxes, (56, 112))  # (H, W)
    assert norm.dtype == torch.float64
    assert torch.equal(norm, torch.tensor([[0, 0, 1, 1], [16 / 112, 8 / 56, 32 / 112, 40 / 56]],
                                          dtype=torch.float64))
    assert torch.equal(denormalize_boxes(norm, (56, 112)), boxes)
    assert torch.equal(normalize_boxes(torch.tensor([[0, 0, 56, 28]]), 112),
                       torch.tensor([[0.0, 0.0, 0.5, 0.25]]))  # int boxes -> float32
    assert normalize_boxes(torch.zeros(0, 4), 10).shape == (0, 4)
    target = {"boxes": boxes.float(), "labels": torch.tensor([1, 2])}
    out = normalize_target(target, (56, 112))
    assert out["labels"] is target["labels"] and torch.equal(target["boxes"], boxes.float())  # input untouched
    torch.testing.assert_close(out["boxes"], norm.float())
    with pytest.raises(ValueError, match="positive"):
        normalize_boxes(boxes, (0, 5))
    with pytest.raises(TypeError, match="image_size"):
        normalize_boxes(boxes, (5.0, 5))
    with pytest.raises(ValueError, match="x2 >= x1"):
        normalize_boxes(torch.tensor([[5.0, 0, 1, 1]]), 10)
    with pytest.raises(TypeError, match="boxes"):
        normalize_target({"labels": 1}, 10)


# ----------------------------------------------------------------------------------------------------------------
# Transforms: boxes move with the pixels
# ----------------------------------------------------------------------------------------------------------------
def _rect_image(h=40, w=60, rects=((10, 5, 30, 15), (50, 30, 58, 38))):
    """A black image with white filled rectangles (x1, y1, x2, y2) and the matching boxes."""
    img = torch.zeros(3, h, w)
    for x1, y1, x2, y2 in rects:
        img[:, y1:y2, x1:x2] = 1.0
    return img, torch.tensor(rects, dtype=torch.float32)


def test_hflip_moves_boxes_to_w_minus_x():
    img, boxes = _rect_image()
    out, out_boxes = hflip(img, boxes)
    assert torch.equal(out, img.flip(-1))
    w = img.shape[-1]
    expected = torch.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], dim=1)
    assert torch.equal(out_boxes, expected)
    assert _tight(out[0, :20] > 0.5) == expected[0].tolist()  # the pixels went where the box went


@pytest.mark.parametrize("tx, ty", [(7, -3), (-12, 4), (0, 0)])
def test_whole_pixel_translation_moves_pixels_and_boxes_exactly(tx, ty):
    img, boxes = _rect_image(rects=((20, 10, 30, 20),))
    out, out_boxes = scale_translate(img, boxes, 1.0, (tx, ty), interpolation="nearest")
    shifted = torch.zeros_like(img)
    shifted[:, 10 + ty:20 + ty, 20 + tx:30 + tx] = 1.0
    assert torch.equal(out, shifted)
    assert torch.equal(out_boxes, boxes + torch.tensor([tx, ty, tx, ty], dtype=torch.float32))
    bilinear, _ = scale_translate(img, boxes, 1.0, (tx, ty))
    torch.testing.assert_close(bilinear, shifted, rtol=0, atol=1e-5)


@pytest.mark.parametrize("scale, t", [(1.5, (0, 0)), (0.5, (4, 5)), (1.25, (3, -2))])
def test_scaling_about_the_centre_closed_form(scale, t):
    """T(p) = s (p - c) + c + t with c = (W/2, H/2); the transformed rectangle's pixels fill the new box to within
    half a pixel."""
    img, boxes = _rect_image(h=64, w=80, rects=((20, 10, 50, 30),))
    out, out_boxes = scale_translate(img, boxes, scale, t, interpolation="nearest")
    c = torch.tensor([40.0, 32.0, 40.0, 32.0])
    expected = (boxes - c) * scale + c + torch.tensor([t[0], t[1], t[0], t[1]], dtype=torch.float32)
    expected = torch.stack([expected[:, 0].clamp(0, 80), expected[:, 1].clamp(0, 64),
                            expected[:, 2].clamp(0, 80), expected[:, 3].clamp(0, 64)], dim=1)
    torch.testing.assert_close(out_boxes, expected, rtol=0, atol=1e-5)
    pixels = torch.tensor(_tight(out[0] > 0.5))
    assert float((pixels - expected[0]).abs().max()) <= 0.5


def test_detection_transform_drops_boxes_that_leave_and_keeps_labels_aligned():
    img, boxes = _rect_image(rects=((10, 5, 30, 15), (50, 30, 58, 38), (35, 2, 45, 12)))
    target = {"boxes": boxes, "labels": torch.tensor([3, 7, 9]), "difficult": torch.tensor([False, True, False]),
              "names": ["a", "b", "c"], "image_id": 42}
    shift = DetectionTransform([lambda im, b: scale_translate(im, b, 1.0, (-32, 0))])  # box 0 leaves, box 2 clipped
    out, out_t = shift(img, target)
    assert out_t["labels"].tolist() == [7, 9] and out_t["difficult"].tolist() == [True, False]
    assert out_t["names"] == ["b", "c"] and out_t["image_id"] == 42
    assert torch.equal(out_t["boxes"], torch.tensor([[18.0, 30, 26, 38], [3, 2, 13, 12]]))
    assert target["labels"].tolist() == [3, 7, 9] and target["boxes"] is boxes  # the input is not modified
    # a box clipped to a 2-pixel sliver: kept with min_size=2, dropped with min_size=3
    sliver = lambda im, b: scale_translate(im, b, 1.0, (-28, 0))  # noqa: E731
    assert DetectionTransform([sliver], min_size=2.0)(img, target)[1]["labels"].tolist() == [3, 7, 9]
    assert DetectionTransform([sliver], min_size=3.0)(img, target)[1]["labels"].tolist() == [7, 9]


def test_resize_scales_boxes():
    img, boxes = _rect_image()
    out, out_boxes = resize(img, boxes, (80, 90))  # (H, W): x by 1.5, y by 2
    assert out.shape == (3, 80, 90)
    assert torch.equal(out_boxes, boxes * torch.tensor([1.5, 2.0, 1.5, 2.0]))
    out2, out2_target = DetectionTransform([Resize(20)])(img, {"boxes": boxes, "labels": torch.tensor([1, 2])})
    assert out2.shape == (3, 20, 20)
    torch.testing.assert_close(out2_target["boxes"], boxes * torch.tensor([1 / 3, 0.5, 1 / 3, 0.5]))


def test_color_jitter_changes_pixels_only():
    img = ShapesDetection(1, seed=0, backgrounds=("gradient",))[0][0]
    boxes = torch.tensor([[1.0, 2.0, 30.0, 40.0]])
    out, out_boxes = ColorJitter(0.4, 0.4, 0.4, 0.05, generator=torch.Generator().manual_seed(0))(img, boxes)
    assert out_boxes is boxes and out.shape == img.shape and not torch.equal(out, img)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    same, _ = ColorJitter(0.0, 0.0, 0.0, 0.0)(img, boxes)
    torch.testing.assert_close(same, img, rtol=0, atol=1e-6)


def test_random_steps_are_reproducible_and_degenerate_ranges_are_identities():
    img, boxes = _rect_image()
    target = {"boxes": boxes, "labels": torch.tensor([0, 1])}

    def pipeline(seed):
        g = torch.Generator().manual_seed(seed)
        return DetectionTransform([RandomHorizontalFlip(0.5, generator=g), RandomScaleTranslate(generator=g),
                                   ColorJitter(generator=g)])

    a, b, c = pipeline(0)(img, target), pipeline(0)(img, target), pipeline(1)(img, target)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1]["boxes"], b[1]["boxes"])
    assert not torch.equal(a[0], c[0])
    ident = DetectionTransform([RandomHorizontalFlip(0.0), RandomScaleTranslate(scale=(1, 1), translate=(0, 0))])
    out, out_t = ident(img, target)
    assert torch.equal(out, img) and torch.equal(out_t["boxes"], boxes)
    assert torch.equal(DetectionTransform([RandomHorizontalFlip(1.0)])(img, target)[0], img.flip(-1))


def test_torchvision_v2_transforms_work_as_steps():
    from torchvision.transforms import v2

    img, boxes = _rect_image()
    target = {"boxes": boxes, "labels": torch.tensor([0, 1])}
    ours = DetectionTransform([RandomHorizontalFlip(1.0), Resize((20, 30))])(img, target)
    theirs = DetectionTransform([v2.RandomHorizontalFlip(p=1.0), v2.Resize((20, 30))])(img, target)
    assert torch.equal(ours[0], theirs[0]) and torch.equal(ours[1]["boxes"], theirs[1]["boxes"])
    mixed = DetectionTransform([v2.RandomHorizontalFlip(p=1.0), RandomHorizontalFlip(1.0),
                                v2.RandomHorizontalFlip(p=1.0)])(img, target)  # three flips = one flip
    assert torch.equal(mixed[0], img.flip(-1)) and torch.equal(mixed[1]["boxes"], hflip(img, boxes)[1])


def test_detection_transform_rejects_bad_input():
    img, boxes = _rect_image()
    t = DetectionTransform([RandomHorizontalFlip(1.0)])
    with pytest.raises(TypeError, match="'boxes'"):
        t(img, {"labels": torch.tensor([1, 2])})
    with pytest.raises(ValueError, match="2 boxes"):
        t(img, {"boxes": boxes, "labels": torch.tensor([1])})
    with pytest.raises(ValueError, match=r"\[C, H, W\]"):
        t(img[0], {"boxes": boxes})
    with pytest.raises(ValueError, match="x2 >= x1"):
        t(img, {"boxes": torch.tensor([[5.0, 0, 1, 1]])})
    with pytest.raises(ValueError, match="min_size"):
        DetectionTransform([], min_size=0)
    with pytest.raises(ValueError, match="must move boxes, not drop them"):
        DetectionTransform([lambda im, b: (im, b[:1])])(img, {"boxes": boxes})
    with pytest.raises(TypeError, match="must return"):
        DetectionTransform([lambda im, b: im])(img, {"boxes": boxes})
    with pytest.raises(ValueError, match="scale"):
        scale_translate(img, boxes, 0.0)
    with pytest.raises(ValueError, match="translate"):
        RandomScaleTranslate(translate=(0.5, 1.5))
    with pytest.raises(ValueError, match="hue"):
        ColorJitter(hue=0.7)


# ----------------------------------------------------------------------------------------------------------------
# Drawing
# ----------------------------------------------------------------------------------------------------------------
def test_draw_boxes_rectangles_labels_and_title():
    image = torch.rand(3, 40, 60)
    boxes = torch.tensor([[5.0, 6.0, 25.0, 30.0], [30.0, 10.0, 58.0, 20.0]])
    ax = draw_boxes(image, boxes, labels=torch.tensor([0, 2]), scores=torch.tensor([0.91, 0.456]),
                    class_names=SHAPE_CLASSES)
    assert ax.get_title() == "2 boxes" and ax.get_xlabel() == "x (pixels)" and ax.get_ylabel() == "y (pixels)"
    rects = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert [(r.get_x(), r.get_y(), r.get_width(), r.get_height()) for r in rects] == [(5, 6, 20, 24), (30, 10, 28, 10)]
    assert [t.get_text() for t in ax.texts] == ["circle 0.91", "triangle 0.46"]
    assert tuple(ax.images[0].get_extent()) == (0, 60, 40, 0)  # pixel j covers [j, j + 1)
    np.testing.assert_allclose(ax.images[0].get_array(), image.permute(1, 2, 0).numpy())
    assert rects[0].get_edgecolor() != rects[1].get_edgecolor()  # one colour per class

    _, ax2 = plt.subplots()
    out = draw_boxes(torch.rand(1, 8, 8), torch.zeros(0, 4), ax=ax2, title="Nothing here", color="lime")
    assert out is ax2 and ax2.get_title() == "Nothing here" and not ax2.patches
    ax3 = draw_boxes(torch.rand(8, 8), torch.tensor([[1.0, 1, 4, 4]]), labels=[5], color="lime")
    assert ax3.texts[0].get_text() == "5" and ax3.get_title() == "1 box"
    assert ax3.patches[0].get_edgecolor() == matplotlib.colors.to_rgba("lime")


def test_draw_boxes_rejects_bad_input():
    image, boxes = torch.rand(3, 8, 8), torch.tensor([[1.0, 1, 4, 4]])
    with pytest.raises(TypeError, match="image"):
        draw_boxes(np.zeros((3, 8, 8)), boxes)
    with pytest.raises(ValueError, match="image"):
        draw_boxes(torch.rand(2, 8, 8), boxes)
    with pytest.raises(ValueError, match=r"\[K, 4\]"):
        draw_boxes(image, torch.zeros(4))
    with pytest.raises(ValueError, match="labels has 2 entries"):
        draw_boxes(image, boxes, labels=[0, 1])
    with pytest.raises(ValueError, match="scores has 0 entries"):
        draw_boxes(image, boxes, scores=[])
    with pytest.raises(ValueError, match="no name"):
        draw_boxes(image, boxes, labels=[3], class_names=SHAPE_CLASSES)


def test_draw_grid_and_mark_cells():
    ax = draw_boxes(torch.rand(3, 112, 112), torch.tensor([[10.0, 20.0, 40.0, 60.0]]), title="YOLO grid")
    n_lines = len(ax.lines)
    assert draw_grid(ax, 112, 7) is ax
    lines = ax.lines[n_lines:]
    xs = sorted(line.get_xdata()[0] for line in lines if line.get_xdata()[0] == line.get_xdata()[1])
    ys = sorted(line.get_ydata()[0] for line in lines if line.get_ydata()[0] == line.get_ydata()[1])
    assert xs == [16.0 * k for k in range(1, 7)] and ys == [16.0 * k for k in range(1, 7)]
    n_patches = len(ax.patches)
    mark_cells(ax, [(2, 1), (6, 0)], 112, 7)  # (row, col): x from col, y from row
    cells = [(p.get_x(), p.get_y(), p.get_width(), p.get_height()) for p in ax.patches[n_patches:]]
    assert cells == [(16.0, 32.0, 16.0, 16.0), (0.0, 96.0, 16.0, 16.0)]
    mask = torch.zeros(7, 7, dtype=torch.bool)
    mask[3, 5] = True
    mark_cells(ax, mask, (112, 224), 7)  # non-square image: cells of 32 x 16 pixels
    p = ax.patches[-1]
    assert (p.get_x(), p.get_y(), p.get_width(), p.get_height()) == (160.0, 48.0, 32.0, 16.0)
    with pytest.raises(ValueError, match="outside"):
        mark_cells(ax, [(7, 0)], 112, 7)
    with pytest.raises(ValueError, match=r"\[S, S\]"):
        mark_cells(ax, torch.zeros(6, 6, dtype=torch.bool), 112, 7)
    with pytest.raises(ValueError, match="S must be >= 1"):
        draw_grid(ax, 112, 0)
    with pytest.raises(TypeError, match="image_size"):
        draw_grid(ax, "112", 7)
