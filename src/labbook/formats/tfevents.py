"""TensorBoard event files: their scalars with step and wall time, read as the files grow.

An event file is a sequence of TFRecords (length, masked CRC-32C of the length, the
serialized ``Event``, masked CRC-32C of it). The events are decoded with TensorBoard's
own protocol buffers (``tensorboard.compat.proto``), and the checksums with the
``google-crc32c`` C library. TensorBoard's ``EventFileLoader`` reads the same records,
but without TensorFlow its stub reader computes every checksum in Python, byte by byte,
and converts each event through its compatibility layers: 200 µs an event, which would
make following a run that logs 100k scalars cost 20 s of CPU. Reading the records here
costs ~7 µs an event.

Scalars come in two forms, both read: ``simple_value`` (TF1, tensorboardX,
``torch.utils.tensorboard``) and a 0-d tensor whose tag was first written with the
``scalars`` plugin (TF2). Histograms, images, audio and text are counted per tag, not
kept. HParams (``hparams`` plugin) give the run's parameters.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PREFIX = "events.out.tfevents."
_HEADER = struct.Struct("<QI")
_CRC = struct.Struct("<I")
_CHUNK = 4 << 20  # bytes read at a time: a long file is never held whole
_MAX_RECORD = 256 << 20  # a length beyond this is a damaged header, not an event
_COUNTED = {"histo": "histograms", "image": "images", "audio": "audio"}
_PLUGIN_KINDS = {"histograms": "histograms", "images": "images", "audio": "audio", "text": "text"}


def is_event_file(name: str) -> bool:
    return name.startswith(PREFIX)


@dataclass
class Points:
    """New scalar points of one read, per tag, in file order."""

    steps: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


class EventReader:
    """One event file, read from where the last ``read`` stopped.

    A record cut off at the end of the file is left for the next read (the writer may be in
    the middle of it); ``torn`` says whether one is there now. A record whose checksum fails
    is skipped and counted in ``damaged``; a header whose checksum fails ends the reading
    of this file, since its length cannot be trusted.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.torn = False
        self.damaged = 0
        self.stopped = False  # a damaged header: nothing after it can be framed
        self.counts: dict[str, dict[str, int]] = {}  # kind → tag → values seen (histograms, images, ...)
        self.hparams: dict[str, Any] = {}
        self._plugins: dict[str, str] = {}  # tag → plugin named by its first metadata
        self._parse, self._masked = _codecs()

    def read(self) -> dict[str, Points]:
        """The scalars of every complete record written since the last read."""
        out: dict[str, Points] = {}
        if self.stopped:
            return out
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            buf = b""
            while True:
                more = fh.read(_CHUNK)
                buf = buf + more if buf else more
                buf = buf[self._frames(buf, out) :]
                if not more or self.stopped:
                    break
        self.torn = bool(buf) and not self.stopped
        return out

    def _frames(self, buf: bytes, out: dict[str, Points]) -> int:
        """Decode the complete records at the start of ``buf``; returns the bytes they take."""
        pos, end = 0, len(buf)
        while not self.stopped and pos + 12 <= end:
            length, header_crc = _HEADER.unpack_from(buf, pos)
            if self._masked(buf[pos : pos + 8]) != header_crc or length > _MAX_RECORD:
                self.damaged += 1
                self.stopped = True
                break
            if pos + 16 + length > end:
                break
            body = buf[pos + 12 : pos + 12 + length]
            (body_crc,) = _CRC.unpack_from(buf, pos + 12 + length)
            if self._masked(body) == body_crc:
                self._event(self._parse(body), out)
            else:
                self.damaged += 1
            pos += 16 + length
        self.offset += pos
        return pos

    def _event(self, event: Any, out: dict[str, Points]) -> None:
        if not event.HasField("summary"):
            return
        for value in event.summary.value:
            tag = value.tag
            if value.HasField("metadata") and value.metadata.plugin_data.plugin_name:
                self._plugins.setdefault(tag, value.metadata.plugin_data.plugin_name)
            number = self._scalar(value)
            if number is not None:
                p = out.get(tag) or out.setdefault(tag, Points())
                p.steps.append(event.step)
                p.times.append(event.wall_time)
                p.values.append(number)

    def _scalar(self, value: Any) -> float | None:
        kind = value.WhichOneof("value")
        if kind == "simple_value":
            return float(value.simple_value)
        plugin = self._plugins.get(value.tag, "")
        if kind == "tensor" and plugin == "scalars":
            return _tensor_scalar(value.tensor)
        if plugin == "hparams":
            self.hparams.update(_hparams(value.metadata.plugin_data.content))
            return None
        counted = _COUNTED.get(kind or "") or _PLUGIN_KINDS.get(plugin)
        if counted is not None:
            tags = self.counts.setdefault(counted, {})
            tags[value.tag] = tags.get(value.tag, 0) + 1
        return None


def _tensor_scalar(tensor: Any) -> float | None:
    from tensorboard.util import tensor_util

    array = tensor_util.make_ndarray(tensor)
    return float(array) if array.size == 1 else None


def _hparams(content: bytes) -> dict[str, Any]:
    """The parameters of a session start in the HParams plugin's data (other records: none)."""
    from tensorboard.plugins.hparams import plugin_data_pb2

    data = plugin_data_pb2.HParamsPluginData.FromString(content)
    if not data.HasField("session_start_info"):
        return {}
    out: dict[str, Any] = {}
    for name, v in data.session_start_info.hparams.items():
        kind = v.WhichOneof("kind")
        out[name] = None if kind is None else getattr(v, kind)
    return out


def _codecs() -> tuple[Callable[[bytes], Any], Callable[[bytes], int]]:
    """TensorBoard's Event parser and the masked CRC-32C; ImportError says which extra to install."""
    try:
        import google_crc32c
        from tensorboard.compat.proto import event_pb2
    except ImportError as err:
        raise ImportError(
            f"reading TensorBoard event files needs {err.name}: pip install 'labbook[tensorboard]'"
        ) from None

    def masked(data: bytes) -> int:
        x = int(google_crc32c.value(data))
        return (((x >> 15) | (x << 17)) + 0xA282EAD8) & 0xFFFFFFFF

    return event_pb2.Event.FromString, masked


def find_event_files(root: Path, skip: Callable[[str], bool] | None = None) -> list[Path]:
    """Event files below ``root``, without descending into hidden folders or ``skip``'s."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and not (skip and skip(d))]
        found += [Path(folder, f) for f in files if is_event_file(f)]
    return sorted(found)
