"""Reading QR codes back with an independent decoder: zbar's `zbarimg` (Debian zbar-tools)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.databases import missing_service


def zbarimg() -> str:
    """The path of zbarimg; skip the test without it (fail under CI=true, like a service)."""
    path = shutil.which("zbarimg")
    if path is None:
        missing_service(
            "zbarimg is not installed (apt-get install zbar-tools); the QR tests need it"
        )
    assert path is not None
    return path


def decode_qr(png: bytes, folder: Path) -> list[str]:
    """The texts of the QR codes zbarimg finds in a PNG image (desk scanners read the same)."""
    image = folder / "qr.png"
    image.write_bytes(png)
    result = subprocess.run(
        [zbarimg(), "--raw", "-q", str(image)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    # zbarimg exits 4 when it finds no code; anything else but 0 is a broken tool.
    assert result.returncode in (0, 4), result.stderr
    return result.stdout.splitlines()
