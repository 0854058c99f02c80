"""What an image's bytes are, decided while they stream: oslo.utils' format inspector (the one
Glance and Nova adopted after CVE-2024-32498) sees every block once, and `Inspection.finish`
gives the verdict when the last byte has arrived.

The rules (docs/image-data.md, "Format safety"):
- the detected format must be the declared `disk_format` for the formats the inspector knows
  (qcow2, vhd, vhdx, vmdk, vdi, iso); content in another format, or in none, is refused;
- `raw` is any bytes, as in Glance, since a raw disk may begin with anything (a qcow2 declared
  raw is stored as raw bytes, its `virtual_size` is its size) — but content the inspector
  recognises must still pass that format's safety checks, which Glance does not ask;
- formats the inspector cannot read (ami, ari, aki, ploop, zvhd, zvhd2) are taken as raw;
- the safety checks of the detected format always run: a qcow2 with a backing file or an
  external data file, a VMDK that is not a monolithic sparse disk, a format the inspector bans
  (QED, LUKS) are refused, whatever was declared;
- content that matches two formats at once (a header hidden in another) is refused.
"""

from __future__ import annotations

import logging

from oslo_utils.imageutils import format_inspector as fi

from openims import errors

# The disk formats whose content the inspector can recognise.
INSPECTED = frozenset(fi.ALL_FORMATS) - {"raw"}
# ISO images may also carry a partition table (hybrid, bootable ISOs)
_COMPANIONS = {"iso": frozenset({"gpt"})}

# The inspector logs every failed check at WARNING and every probe at DEBUG; the refusal we
# answer says the same, once.
logging.getLogger(fi.__name__).setLevel(logging.ERROR)


class _Feed:
    """The source the inspector reads: whatever block `Inspection.feed` hands it."""

    block: bytes = b""

    def __next__(self) -> bytes:
        return self.block


class Inspection:
    """The inspector for one stream of bytes declared as `disk_format`."""

    def __init__(self, disk_format: str) -> None:
        self.disk_format = disk_format
        self._feed = _Feed()
        self._wrapper = fi.InspectWrapper(self._feed)  # type: ignore[arg-type]
        self._size = 0

    def feed(self, block: bytes) -> None:
        """Show the inspector the next block (every block, in order)."""
        self._feed.block = block
        self._size += len(block)
        try:
            next(self._wrapper)
        except fi.ImageFormatError as exc:  # pragma: no cover - only with an expected format
            raise errors.IMAGE_FORMAT_MISMATCH(
                disk_format=self.disk_format, detected=str(exc)
            ) from None

    def finish(self) -> int | None:
        """The image's virtual size, once every byte has been fed; refuses what the module's
        docstring says. None for an empty image (as Glance) or a format without a header."""
        self._wrapper.close()
        if self._size == 0:
            return None
        matches = self._wrapper.formats or []
        names = {m.NAME for m in matches}
        declared = self.disk_format
        chosen: fi.FileInspector | None
        if declared in names:
            chosen = next(m for m in matches if declared == m.NAME)
            others = names - {declared} - _COMPANIONS.get(declared, frozenset())
            if others:
                raise errors.IMAGE_FORMAT_MISMATCH(
                    disk_format=declared, detected=",".join(sorted(names))
                )
        elif len(matches) > 1 and not names & {"raw"}:
            raise errors.IMAGE_FORMAT_MISMATCH(
                disk_format=declared, detected=",".join(sorted(names))
            )
        else:
            chosen = matches[0] if matches else None
            detected = chosen.NAME if chosen is not None else "raw"
            if declared in INSPECTED and detected != declared:
                raise errors.IMAGE_FORMAT_MISMATCH(disk_format=declared, detected=detected)
        if chosen is None:
            return self._size
        try:
            chosen.safety_check()
        except fi.SafetyCheckFailed as exc:
            raise errors.IMAGE_UNSAFE(
                disk_format=chosen.NAME, checks=", ".join(sorted(exc.failures))
            ) from None
        except fi.ImageFormatError as exc:
            raise errors.IMAGE_UNSAFE(disk_format=chosen.NAME, checks=str(exc)) from None
        if chosen.NAME == "raw" or declared not in INSPECTED:
            return self._size
        return int(chosen.virtual_size)
