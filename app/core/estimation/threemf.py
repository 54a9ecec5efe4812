"""3MF read as a stream, with its archive bounded.

A 3MF is a zip of XML. Inflating a member whole (as general loaders do) lets a 1 MB file that inflates to 1 GB
take gigabytes of memory. Here every member is inflated as it is parsed, never more than ``MAX_INFLATED_BYTES``
in all (the size the archive declares is checked before reading, the size actually inflated while reading), and
the XML is parsed element by element, so memory follows the triangles kept, not the size of the text.

What is read (3MF core and the production extension's ``p:path``): mesh objects, components (in the same model
file or another), build items, their transforms and the model's unit. Materials, colours and slices are ignored.
"""

from __future__ import annotations

import posixpath
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
from lxml import etree

from app.core.estimation.errors import PartFileError

MAX_INFLATED_BYTES = 256 * 1024 * 1024  # all model XML read from one archive (a 3-million-triangle part is ~250 MB)
MAX_MEMBERS = 10_000
MAX_MODEL_FILES = 256
MAX_DEPTH = 32  # components inside components: deeper is a loop or a hostile file
# XPath runs in C: one call per attribute reads a whole chunk of vertices or triangles.
# Index 0: every child; index 1: all but the last, which may still be arriving.
_VERTEX_XYZ = [(etree.XPath(f"*/@{a}", smart_strings=False),
                etree.XPath(f"*[position() < last()]/@{a}", smart_strings=False)) for a in ("x", "y", "z")]
_TRIANGLE_V = [(etree.XPath(f"*/@{a}", smart_strings=False),
                etree.XPath(f"*[position() < last()]/@{a}", smart_strings=False)) for a in ("v1", "v2", "v3")]
_CHUNK = 1 << 16  # XML fed to the parser at a time (larger chunks measured no faster)
_TAGS = ("{*}vertices", "{*}triangles", "{*}component", "{*}object", "{*}item", "{*}model")
_ROOT_REL = "http://schemas.microsoft.com/3dmanufacturing/2013/01/3dmodel"


@dataclass(slots=True)
class Object3mf:
    name: str
    vertices: np.ndarray | None = None  # (n, 3) float64
    faces: np.ndarray | None = None  # (m, 3) int64
    components: list[tuple[str, str, np.ndarray]] = field(default_factory=list)  # (model path, object id, 4x4)


@dataclass(slots=True)
class Model3mf:
    unit: str = "millimeter"
    objects: dict[str, Object3mf] = field(default_factory=dict)
    build: list[tuple[str, str, np.ndarray, str | None]] = field(default_factory=list)  # path, id, 4x4, partnumber


class _Budget:
    """Bytes inflated so far from one archive, against the limit."""

    def __init__(self, name: str, limit: int) -> None:
        self.name, self.limit, self.used = name, limit, 0

    def take(self, n: int, member: str) -> None:
        self.used += n
        if self.used > self.limit:
            raise PartFileError(f"{self.name}: {member} inflates beyond {_size(self.limit)} of model data; "
                                "refused (a compressed bomb, or a part far larger than any machine can make)")


class _Counted:
    """A member's inflating stream that stops at its declared size and at the archive's budget."""

    def __init__(self, raw: IO[bytes], declared: int, budget: _Budget, member: str) -> None:
        self.raw, self.left, self.budget, self.member = raw, declared, budget, member

    def read(self, n: int = -1) -> bytes:
        want = _CHUNK if n is None or n < 0 else min(n, _CHUNK)
        data = self.raw.read(want)
        self.budget.take(len(data), self.member)
        self.left -= len(data)
        if self.left < 0:
            raise PartFileError(f"{self.budget.name}: {self.member} inflates to more than the size it declares; "
                                "the archive is corrupt or hostile")
        return data


def read_3mf(path: Path, limit: int = MAX_INFLATED_BYTES) -> tuple[list[tuple[str, np.ndarray]], str]:
    """The part's objects as (name, (n, 3, 3) float32 triangles in file units), and the model's unit."""
    name = path.name
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS:
                raise PartFileError(f"{name}: the archive holds {len(infos):,} files; a 3MF holds a handful")
            members = {i.filename.lstrip("/"): i for i in infos}
            budget = _Budget(name, limit)
            models: dict[str, Model3mf] = {}

            def model(member: str) -> Model3mf:
                if member not in models:
                    if len(models) >= MAX_MODEL_FILES:
                        raise PartFileError(f"{name}: more than {MAX_MODEL_FILES} model files")
                    info = members.get(member)
                    if info is None:
                        raise PartFileError(f"{name}: refers to {member}, which the archive does not hold")
                    if info.file_size > budget.limit - budget.used:
                        raise PartFileError(
                            f"{name}: {member} declares {_size(info.file_size)} inflated, over the "
                            f"{_size(budget.limit)} limit for model data; refused")
                    with zf.open(info) as raw:
                        models[member] = _parse_model(_Counted(raw, info.file_size, budget, member), member, name)
                return models[member]

            root_path = _root_model(zf, members, name)
            root = model(root_path)
            objects = list(_flatten(root, root_path, model, name))
    except PartFileError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, NotImplementedError, EOFError, OSError,
            RuntimeError) as exc:
        # RuntimeError: an encrypted member; NotImplementedError: a compression method zipfile does not have;
        # zlib.error: a deflate stream that is corrupt.
        raise PartFileError(f"{name}: not a readable 3MF archive ({_first_line(exc)})") from exc
    return objects, root.unit


def _size(n: int) -> str:
    return f"{n / 2**20:,.0f} MB" if n >= 2**20 else f"{n:,} bytes"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160]}" if text else type(exc).__name__


def _root_model(zf: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], name: str) -> str:
    """The start part named by _rels/.rels, else the usual 3D/3dmodel.model, else the only .model file."""
    rels = members.get("_rels/.rels")
    if rels is not None and rels.file_size < 1_000_000:
        try:
            tree = etree.fromstring(zf.read(rels), etree.XMLParser(resolve_entities=False, no_network=True))
            for rel in tree.iter("{*}Relationship"):
                if rel.get("Type", "").rstrip("/") == _ROOT_REL:
                    target = posixpath.normpath(rel.get("Target", "").lstrip("/"))
                    if target in members:
                        return target
        except etree.XMLSyntaxError:
            pass  # a broken relationships file: fall back to the usual place
    for candidate in ("3D/3dmodel.model", "3D/3DModel.model"):
        if candidate in members:
            return candidate
    models = [m for m in members if m.lower().endswith(".model")]
    if not models:
        raise PartFileError(f"{name}: no 3D model in the archive (not a 3MF?)")
    return models[0]


def _transform(text: str | None, where: str) -> np.ndarray:
    tf = np.eye(4)
    if text:
        try:
            m = np.array([float(v) for v in text.split()], dtype=np.float64)
        except ValueError as exc:
            raise PartFileError(f"{where}: transform {text[:60]!r} is not 12 numbers") from exc
        if m.shape != (12,) or not np.isfinite(m).all():
            raise PartFileError(f"{where}: transform {text[:60]!r} is not 12 finite numbers")
        tf[:3, :4] = m.reshape(4, 3).T
    return tf


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _path_attr(el: etree._Element, current: str) -> str:
    for k, v in el.attrib.items():
        if _local(k) == "path":
            return posixpath.normpath(v.lstrip("/"))
    return current


class _Mesh:
    """The vertices and triangles of the object being read, taken from their containers a chunk at a time."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.xyz: list[np.ndarray] = []
        self.tri: list[np.ndarray] = []

    def take(self, container: etree._Element, keep_last: bool) -> None:
        """Read the container's children so far (all but the last, which may still be arriving) and drop them:
        memory holds numbers, never more than one chunk of parsed elements."""
        n = len(container) - (1 if keep_last else 0)
        if n <= 0:
            return
        # XPath picks the attribute values in C; the children are then deleted in C: no Python object per element.
        if container.tag.endswith("}vertices"):
            paths, into, kind = _VERTEX_XYZ, self.xyz, "a vertex that is not three numbers"
            dtype: type = np.float64
        else:
            paths, into, kind = _TRIANGLE_V, self.tri, "a triangle that is not three vertex numbers"
            dtype = np.int64
        try:
            cols = [np.array(xp[keep_last](container), dtype=dtype) for xp in paths]
            if not len(cols[0]) == len(cols[1]) == len(cols[2]) == n:
                raise ValueError("an attribute is missing")
            into.append(np.stack(cols, axis=1).ravel())
        except (TypeError, ValueError, OverflowError) as exc:
            raise PartFileError(f"{self.where}: {kind}") from exc
        finally:
            del container[:n]

    def arrays(self) -> tuple[np.ndarray, np.ndarray] | None:
        if not self.tri:
            return None
        xyz = np.concatenate(self.xyz) if self.xyz else np.zeros(0)
        tri = np.concatenate(self.tri)
        return xyz.reshape(-1, 3), tri.reshape(-1, 3)


def _parse_model(stream: _Counted, member: str, name: str) -> Model3mf:
    """Attributes are read when an element starts (they are complete then); after each chunk, everything the
    parser has finished with is cut from the tree, so memory stays a chunk's worth whatever the document holds
    (millions of unknown elements included)."""
    where = f"{name} ({member})"
    out = Model3mf()
    mesh = _Mesh(where)
    components: list[tuple[str, str, np.ndarray]] = []
    container: etree._Element | None = None
    root: etree._Element | None = None
    obj_id, obj_name = "", ""
    parser = etree.XMLPullParser(events=("start", "end"), tag=_TAGS, resolve_entities=False, no_network=True,
                                 huge_tree=False, remove_comments=True, remove_pis=True)

    def handle(events) -> None:  # type: ignore[no-untyped-def]
        nonlocal container, mesh, components, root, obj_id, obj_name
        for event, el in events:
            tag = el.tag
            if event == "start":
                if tag.endswith(("}vertices", "}triangles")):
                    container = el
                elif tag.endswith("}object"):
                    obj_id = el.get("id", "")
                    obj_name = el.get("name") or obj_id
                elif tag.endswith("}component"):
                    components.append((_path_attr(el, member), el.get("objectid", ""),
                                       _transform(el.get("transform"), where)))
                elif tag.endswith("}item"):
                    out.build.append((_path_attr(el, member), el.get("objectid", ""),
                                      _transform(el.get("transform"), where), el.get("partnumber")))
                elif tag.endswith("}model") and root is None:
                    root = el
                    out.unit = el.get("unit", "millimeter")
            elif tag.endswith(("}vertices", "}triangles")):
                mesh.take(el, keep_last=False)
                container = None
            elif tag.endswith("}object"):
                obj = Object3mf(obj_name, components=components)
                got = mesh.arrays()
                if got is not None:
                    obj.vertices, obj.faces = got
                out.objects[obj_id] = obj
                mesh, components = _Mesh(where), []

    try:
        while chunk := stream.read(_CHUNK):
            parser.feed(chunk)
            handle(parser.read_events())
            if container is not None:
                mesh.take(container, keep_last=True)
            if root is not None:
                _prune(root)
        parser.close()
        handle(parser.read_events())
    except etree.XMLSyntaxError as exc:
        raise PartFileError(f"{where}: not valid XML ({_first_line(exc)})") from exc
    return out


def _prune(root: etree._Element) -> None:
    """Keep only the path the parser is on: at each level, the last child (which may still be open)."""
    el: etree._Element | None = root
    while el is not None and len(el):
        if len(el) > 1:
            del el[:-1]
        el = el[-1]


def _flatten(root: Model3mf, root_path: str, model, name: str) -> Iterator[tuple[str, np.ndarray]]:
    used: dict[str, int] = {}

    def unique(base: str) -> str:
        n = used.get(base, 0)
        used[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    def walk(path: str, oid: str, tf: np.ndarray, label: str | None, depth: int) -> Iterator[tuple[str, np.ndarray]]:
        if depth > MAX_DEPTH:
            raise PartFileError(f"{name}: components nest deeper than {MAX_DEPTH} levels (a loop?)")
        obj = model(path).objects.get(oid)
        if obj is None:
            raise PartFileError(f"{name}: the build refers to object {oid!r}, which {path} does not define")
        if obj.faces is not None and obj.vertices is not None:
            if len(obj.faces) and (obj.faces.min() < 0 or obj.faces.max() >= len(obj.vertices)):
                raise PartFileError(f"{name}: object {obj.name!r} refers to vertices that do not exist; "
                                    "file is corrupt")
            verts = obj.vertices @ tf[:3, :3].T + tf[:3, 3]
            yield unique(label or obj.name), verts[obj.faces].astype(np.float32)
        for cpath, cid, ctf in obj.components:
            yield from walk(cpath, cid, tf @ ctf, None, depth + 1)

    for path, oid, tf, partnumber in root.build:
        yield from walk(path, oid, tf, partnumber, 0)
