"""The files server the SDK uploads artifacts to (``api.files_server``, here the emulator's own address).

The SDK's HTTP storage driver POSTs a multipart form to the server's root, one part per object, the part's
name being the object's path (``<project>/<task>.<id>/artifacts/<name>/<file>``), and downloads it back with a
GET of that path (clearml storage/helper.py, _HttpDriver). Objects are kept in memory.
"""

from __future__ import annotations

import threading
from email.parser import BytesParser
from email.policy import HTTP


class FileStore:
    def __init__(self) -> None:
        self._objects: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def upload(self, content_type: str, body: bytes) -> list[str] | None:
        """Store every part of a multipart/form-data body; None when the body is not one."""
        if not content_type.lower().startswith("multipart/form-data"):
            return None
        message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
        if not message.is_multipart():
            return None
        stored: list[str] = []
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str) or not name:
                continue
            data = part.get_payload(decode=True)
            with self._lock:
                self._objects[name.lstrip("/")] = data if isinstance(data, bytes) else b""
            stored.append(name.lstrip("/"))
        return stored

    def download(self, path: str) -> bytes | None:
        with self._lock:
            return self._objects.get(path.lstrip("/"))

    def clear(self) -> None:
        with self._lock:
            self._objects.clear()
