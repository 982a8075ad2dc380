"""Dataset input for the app without Streamlit: safe zip extraction, uploaded images to a folder, an image cap."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Sequence

from wavevis.dataset import DatasetImage
from wavevis.errors import ImageError, escape
from wavevis.images import IMAGE_EXTENSIONS

__all__ = ["MAX_ZIP_BYTES", "MAX_ZIP_FILES", "cap_images", "extract_zip", "upload_folder", "write_uploads"]

MAX_ZIP_BYTES = 512 * 2**20  # uncompressed bytes a zip may unpack to
MAX_ZIP_FILES = 20_000  # image files a zip may hold
_SUFFIXES = tuple(f".{ext}" for ext in IMAGE_EXTENSIONS)
_CHUNK = 2**20


def upload_folder(data: bytes | Sequence[bytes], names: Sequence[str] = ()) -> Path:
    """The folder an upload is unpacked into, named by the sha256 of its bytes and file names (the same
    upload, the same folder; the same images under other names, another folder)."""
    digest = hashlib.sha256()
    for part in [data] if isinstance(data, bytes) else data:
        digest.update(hashlib.sha256(part).digest())
    for name in names:
        digest.update(hashlib.sha256(name.encode("utf-8", "surrogatepass")).digest())
    return Path(tempfile.gettempdir()) / "wavevis-datasets" / digest.hexdigest()[:16]


def _publish(tmp: Path, final: Path) -> None:
    """Move a finished folder into place; another session that unpacked the same upload first wins."""
    try:
        os.replace(tmp, final)
    except OSError:
        if not final.is_dir():
            raise


def _member_path(name: str, archive: str) -> PurePosixPath | None:
    """The relative path of a zip member to write, None to skip it (folders, non-images, macOS metadata).

    Raises:
        ImageError: the name leaves the folder it is unpacked into (absolute, drive letter, ..).
    """
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise ImageError(f"{escape(archive)} holds {escape(name)!r}, a path outside the archive's folder: "
                         "upload a zip whose entries are relative paths")
    if name.endswith("/") or not path.name.lower().endswith(_SUFFIXES):
        return None
    if path.parts[0] == "__MACOSX" or path.name.startswith("._"):
        return None
    return path


def extract_zip(data: bytes, name: str, *, max_bytes: int = MAX_ZIP_BYTES, max_files: int = MAX_ZIP_FILES) -> Path:
    """Unpack the image files of a zip into a fresh folder (reused for the same bytes); returns the folder.

    Entries are written as regular files under the folder only; the size budget is checked against
    the declared sizes first and against the bytes actually inflated while writing.

    Raises:
        ImageError: not a zip, an entry outside the folder, over the size or file budget, or no images.
    """
    final = upload_folder(data)
    if final.is_dir():
        return final
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImageError(f"{escape(name)} is not a zip archive ({exc}): upload a .zip of images") from None
    with archive:
        members = [(info, path) for info in archive.infolist() if (path := _member_path(info.filename, name))]
        if not members:
            raise ImageError(f"{escape(name)} holds no images ({', '.join(_SUFFIXES)}): zip a folder of images")
        if len(members) > max_files:
            raise ImageError(f"{escape(name)} holds {len(members):,} images, over the {max_files:,} allowed: "
                             "zip a smaller dataset")
        declared = sum(info.file_size for info, _ in members)
        if declared > max_bytes:
            raise ImageError(f"{escape(name)} unpacks to {declared / 2**20:,.0f} MB, over the {max_bytes // 2**20} MB "
                             "allowed: zip fewer or smaller images")
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
        try:
            written = 0
            for info, path in members:
                target = tmp.joinpath(*path.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as src, open(target, "wb") as dst:
                    while chunk := src.read(_CHUNK):
                        written += len(chunk)
                        if written > max_bytes:
                            raise ImageError(f"{escape(name)} unpacks to more than its declared sizes and over the "
                                             f"{max_bytes // 2**20} MB allowed: zip fewer or smaller images")
                        dst.write(chunk)
            _publish(tmp, final)
        except RuntimeError as exc:  # an encrypted member; NotImplementedError: a compression zipfile lacks
            raise ImageError(f"{escape(name)} cannot be unpacked ({exc}): zip the images again without a password, "
                             "with the usual compression (deflate)") from None
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ImageError(f"{escape(name)} is a damaged zip archive ({exc}): zip the images again") from None
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return final


def write_uploads(files: Sequence[tuple[str, bytes]]) -> Path:
    """Uploaded images (name, bytes) as one flat folder of files (names made safe and unique); returns it."""
    final = upload_folder([data for _, data in files], [name for name, _ in files])
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        seen: set[str] = set()
        for i, (name, data) in enumerate(files):
            base = PurePosixPath(name.replace("\\", "/")).name
            if base in ("", ".", ".."):
                base = f"image{i}.png"
            if base in seen:
                base = f"{i}_{base}"
            seen.add(base)
            (tmp / base).write_bytes(data)
        _publish(tmp, final)
    except OSError as exc:
        raise ImageError(f"the uploaded images cannot be stored in {escape(final.parent)} ({exc.strerror or exc}): "
                         "free some disk space or give a folder on the server") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def cap_images(images: Sequence[DatasetImage], limit: int) -> list[DatasetImage]:
    """At most `limit` images, evenly spaced over the sorted list (so splits and classes keep their shares)."""
    images = list(images)
    if limit <= 0 or len(images) <= limit:
        return images
    return [images[i * len(images) // limit] for i in range(limit)]
