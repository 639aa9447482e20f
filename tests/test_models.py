"""Model folder resolution and 'models fetch' against a real HTTP server on loopback."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.errors import ModelError
from appliance.models import catalog as models


def test_models_dir_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("POSENET_MODELS_DIR", str(tmp_path / "env"))
    assert models.models_dir("explicit") == Path("explicit")
    assert models.models_dir() == tmp_path / "env"
    monkeypatch.delenv("POSENET_MODELS_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert models.models_dir() == tmp_path / "data" / "posenet-appliance" / "models"
    assert models.resolve_model("x.tflite") == tmp_path / "data" / "posenet-appliance" / "models" / "x.tflite"
    assert models.resolve_model("some/dir/x.tflite") == Path("some/dir/x.tflite")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None  # type: ignore[method-assign]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, name="test-http", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", root
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def _pin(monkeypatch: pytest.MonkeyPatch, base: str, content: bytes, digest: str | None = None) -> None:
    pinned = models.PinnedModel(
        "m.tflite", base + "m.tflite", len(content), digest or hashlib.sha256(content).hexdigest()
    )
    monkeypatch.setattr(models, "PINNED", (pinned,))


def test_fetch_downloads_verifies_and_skips_good_copies(server, monkeypatch, tmp_path: Path) -> None:
    base, root = server
    (root / "m.tflite").write_bytes(b"model bytes" * 100)
    _pin(monkeypatch, base, b"model bytes" * 100)
    dest = tmp_path / "models"
    assert models.fetch_models(dest) == ["fetched  m.tflite"]
    assert (dest / "m.tflite").read_bytes() == b"model bytes" * 100
    assert models.fetch_models(dest) == ["ok       m.tflite"]
    assert sorted(p.name for p in dest.iterdir()) == ["m.tflite"]


def test_fetch_rejects_a_bad_checksum_and_leaves_nothing(server, monkeypatch, tmp_path: Path) -> None:
    base, root = server
    (root / "m.tflite").write_bytes(b"tampered")
    _pin(monkeypatch, base, b"tampered", digest="0" * 64)
    dest = tmp_path / "models"
    with pytest.raises(ModelError, match="checksum mismatch"):
        models.fetch_models(dest)
    assert list(dest.iterdir()) == []


def test_fetch_offline_says_what_to_do(monkeypatch, tmp_path: Path) -> None:
    _pin(monkeypatch, "http://127.0.0.1:9/", b"x")  # discard port: connection refused
    with pytest.raises(ModelError, match=r"looks offline: copy the \.tflite files"):
        models.fetch_models(tmp_path / "m", timeout=2)


def test_unknown_model_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="unknown model"):
        models.fetch_models(tmp_path, ["nope.tflite"])


def test_pinned_models_match_the_shared_copies(models_dir: Path) -> None:
    for m in models.PINNED:
        local = models_dir / m.name
        assert local.stat().st_size == m.size
        assert models.sha256_file(local) == m.sha256


def test_fetch_from_a_folder_checks_like_a_download(monkeypatch, tmp_path: Path) -> None:
    src = tmp_path / "usb"
    src.mkdir()
    (src / "m.tflite").write_bytes(b"model")
    _pin(monkeypatch, "http://127.0.0.1:9/", b"model")
    assert models.fetch_models(tmp_path / "dest", source=src) == ["fetched  m.tflite"]
    (src / "m.tflite").write_bytes(b"tampered")
    (tmp_path / "dest" / "m.tflite").unlink()
    with pytest.raises(ModelError, match="checksum mismatch"):
        models.fetch_models(tmp_path / "dest", source=src)
    with pytest.raises(ModelError, match=r"cannot copy m\.tflite from"):
        models.fetch_models(tmp_path / "dest", source=tmp_path / "nowhere")


def test_fetched_models_are_readable_by_everyone(server, monkeypatch, tmp_path: Path) -> None:
    base, root = server
    (root / "m.tflite").write_bytes(b"x")
    _pin(monkeypatch, base, b"x")
    models.fetch_models(tmp_path / "models")
    assert (tmp_path / "models" / "m.tflite").stat().st_mode & 0o777 == 0o644  # the service user reads them
