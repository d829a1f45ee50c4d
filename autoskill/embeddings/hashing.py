"""An offline, deterministic embedder based on signed feature hashing.

Three feature groups are hashed into the same ``dims`` buckets:

* word unigrams (stopwords dropped unless nothing else is left),
* word bigrams over that sequence (``deploy the service`` gives ``deploy service``),
* character n-grams (3-5 by default) of each word with ``<``/``>`` boundary markers, which
  make ``deploy``/``deploying``/``deployment`` similar and tolerate typos.

CJK text is split into characters (see :mod:`autoskill.retrieval.text`), so its unigrams
and bigrams are character unigrams and bigrams; single CJK characters get no n-grams.

Term frequencies are sublinear (``1 + log tf``). Each group is L2-normalised on its own
and then mixed with fixed weights, so the cosine of two texts is roughly a mean of the
per-group cosines weighted by the squared group weights (defaults 1.0, 0.5, 1.0: words
and n-grams about 45% each, bigrams the rest). Hashing uses BLAKE2b, never Python's
per-process salted ``hash()``, so vectors are identical across processes and machines.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from functools import lru_cache
from itertools import pairwise

import numpy as np

from autoskill.embeddings.base import BaseEmbedder, check_texts
from autoskill.errors import ConfigError
from autoskill.retrieval.text import STOPWORDS, is_cjk, words

__all__ = ["HashingEmbedder"]

_VERSION = "hashing-v1"
_PERSON = b"autoskill-hash1"  # BLAKE2b personalisation: our buckets, not anyone else's
_DEFAULTS = {"char_ngrams": (3, 5), "word_weight": 1.0, "bigram_weight": 0.5, "char_weight": 1.0}


def _hash64(key: str) -> int:
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8, person=_PERSON).digest()
    return int.from_bytes(digest, "little")


def _bucket(h: int, dims: int) -> tuple[int, float]:
    # The top bit picks the sign; the remainder picks the bucket. Signed hashing makes
    # collisions cancel on average instead of always adding up.
    return h % dims, (-1.0 if h >> 63 else 1.0)


# The caches are module-level and keyed by dims, so they are shared by all instances and
# bounded (vocabularies repeat; the hashing dominates the cost without them).
@lru_cache(maxsize=200_000)
def _word_feature(word: str, dims: int) -> tuple[int, float]:
    return _bucket(_hash64("w\x1f" + word), dims)


@lru_cache(maxsize=200_000)
def _bigram_feature(pair: str, dims: int) -> tuple[int, float]:
    return _bucket(_hash64("b\x1f" + pair), dims)


@lru_cache(maxsize=100_000)
def _char_features(word: str, dims: int, nmin: int, nmax: int) -> np.ndarray:
    """Signed bucket codes of the word's character n-grams (``~bucket`` means negative)."""
    if len(word) == 1 and is_cjk(word):
        return np.empty(0, dtype=np.int64)
    marked = f"<{word}>"
    codes: list[int] = []
    for n in range(nmin, nmax + 1):
        for start in range(len(marked) - n + 1):
            bucket, sign = _bucket(_hash64("c\x1f" + marked[start : start + n]), dims)
            codes.append(bucket if sign > 0 else ~bucket)
    if not codes:  # a one-letter word with nmin > 3: use the marked word itself
        bucket, sign = _bucket(_hash64("c\x1f" + marked), dims)
        codes.append(bucket if sign > 0 else ~bucket)
    arr = np.asarray(codes, dtype=np.int64)
    arr.flags.writeable = False  # cached and shared: must never be modified
    return arr


class _Group:
    """Sparse (row, bucket, value) triplets of one feature group for one batch."""

    __slots__ = ("buckets", "rows", "values")

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.buckets: list[int] = []
        self.values: list[float] = []

    def dense(self, n_rows: int, dims: int) -> np.ndarray:
        if not self.rows:  # bincount of nothing is an int array; keep float
            return np.zeros((n_rows, dims))
        flat = np.asarray(self.rows, dtype=np.int64) * dims + np.asarray(
            self.buckets, dtype=np.int64
        )
        out = np.bincount(flat, weights=np.asarray(self.values), minlength=n_rows * dims)
        return out.reshape(n_rows, dims)


class _CharGroup:
    """Character n-gram features, collected as cached arrays and expanded in one go."""

    __slots__ = ("codes", "rows", "weights")

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.codes: list[np.ndarray] = []
        self.weights: list[float] = []

    def dense(self, n_rows: int, dims: int) -> np.ndarray:
        if not self.codes:
            return np.zeros((n_rows, dims))
        lengths = np.fromiter((len(c) for c in self.codes), dtype=np.int64, count=len(self.codes))
        codes = np.concatenate(self.codes)
        negative = codes < 0
        buckets = np.where(negative, ~codes, codes)
        # Each word's n-grams share its weight, scaled by 1/sqrt(count) so that long words
        # do not outweigh short ones.
        per_word = np.asarray(self.weights) / np.sqrt(lengths)
        values = np.repeat(per_word, lengths)
        values[negative] *= -1.0
        flat = np.repeat(np.asarray(self.rows, dtype=np.int64), lengths) * dims + buckets
        out = np.bincount(flat, weights=values, minlength=n_rows * dims)
        return out.reshape(n_rows, dims)


def _normalize_inplace(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0.0] = 1.0
    matrix /= norms
    return matrix


class HashingEmbedder(BaseEmbedder):
    """Offline embedder: signed hashing of words, word bigrams and character n-grams.

    Deterministic across processes, needs no model files, and is fast (vocabulary features
    are cached). Quality is lexical, not semantic: paraphrases with no shared words or
    word pieces score low.

    Args:
        dims: Vector length (at least 16).
        char_ngrams: Inclusive (min, max) character n-gram lengths.
        word_weight: Weight of the word-unigram group.
        bigram_weight: Weight of the word-bigram group.
        char_weight: Weight of the character n-gram group.
        batch_size: Texts vectorised per numpy pass (bounds peak memory).

    Rows are unit vectors, except an all-zero row for a text without any letter or digit.
    """

    def __init__(
        self,
        dims: int = 256,
        *,
        char_ngrams: tuple[int, int] | Sequence[int] = (3, 5),
        word_weight: float = 1.0,
        bigram_weight: float = 0.5,
        char_weight: float = 1.0,
        batch_size: int = 4096,
    ) -> None:
        if isinstance(dims, bool) or not isinstance(dims, int) or dims < 16:
            raise ConfigError(f"hashing embedder dims must be an integer >= 16, got {dims!r}")
        if len(char_ngrams) != 2 or not 1 <= int(char_ngrams[0]) <= int(char_ngrams[1]):
            raise ConfigError(
                f"char_ngrams must be (min, max) with 1 <= min <= max, got {char_ngrams!r}"
            )
        weights = (word_weight, bigram_weight, char_weight)
        if any(w < 0 for w in weights) or not any(w > 0 for w in weights):
            raise ConfigError(f"group weights must be >= 0 and not all zero, got {weights!r}")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size!r}")
        self._dims = dims
        self._nmin, self._nmax = int(char_ngrams[0]), int(char_ngrams[1])
        self._word_weight = float(word_weight)
        self._bigram_weight = float(bigram_weight)
        self._char_weight = float(char_weight)
        self._batch_size = batch_size
        self._identity = self._make_identity()

    def _make_identity(self) -> str:
        identity = f"{_VERSION}:{self._dims}"
        options = {
            "char_ngrams": (self._nmin, self._nmax),
            "word_weight": self._word_weight,
            "bigram_weight": self._bigram_weight,
            "char_weight": self._char_weight,
        }
        # Only non-default options enter the identity, so the common case reads simply
        # "hashing-v1:256", yet vectors built with other settings are never mixed.
        changed = [f"{k}={v}" for k, v in options.items() if v != _DEFAULTS[k]]
        return identity + (":" + ",".join(changed) if changed else "")

    @property
    def identity(self) -> str:
        """``"hashing-v1:<dims>"`` (plus any non-default options)."""
        return self._identity

    @property
    def dims(self) -> int:
        """Vector length."""
        return self._dims

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts; float32 ``(n, dims)``, unit rows (zero rows for empty texts)."""
        items = check_texts(texts)
        out = np.zeros((len(items), self._dims), dtype=np.float32)
        for start in range(0, len(items), self._batch_size):
            chunk = items[start : start + self._batch_size]
            out[start : start + len(chunk)] = self._embed_chunk(chunk)
        return out

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one text; float32 ``(dims,)``."""
        if not isinstance(text, str):
            raise TypeError(f"query is {type(text).__name__}, expected str")
        return self._embed_chunk([text])[0]

    def _embed_chunk(self, texts: list[str]) -> np.ndarray:
        dims, nmin, nmax = self._dims, self._nmin, self._nmax
        use_chars = self._char_weight > 0
        use_bigrams = self._bigram_weight > 0
        unigrams, bigrams, chars = _Group(), _Group(), _CharGroup()
        # Bound methods in locals: this loop is the hot path for large imports.
        uni_row, uni_bucket, uni_value = (
            unigrams.rows.append,
            unigrams.buckets.append,
            unigrams.values.append,
        )
        bi_row, bi_bucket, bi_value = (
            bigrams.rows.append,
            bigrams.buckets.append,
            bigrams.values.append,
        )
        char_row, char_codes, char_weight = (
            chars.rows.append,
            chars.codes.append,
            chars.weights.append,
        )
        log, stop = math.log, STOPWORDS
        for row, text in enumerate(texts):
            units = words(text)
            content = [u for u in units if u not in stop] or units
            counts: dict[str, int] = {}
            for unit in content:
                counts[unit] = counts.get(unit, 0) + 1
            for unit, tf in counts.items():
                weight = 1.0 + log(tf) if tf > 1 else 1.0
                bucket, sign = _word_feature(unit, dims)
                uni_row(row)
                uni_bucket(bucket)
                uni_value(sign * weight)
                if use_chars:
                    codes = _char_features(unit, dims, nmin, nmax)
                    if len(codes):
                        char_row(row)
                        char_codes(codes)
                        char_weight(weight)
            if use_bigrams and len(content) > 1:
                pair_counts: dict[str, int] = {}
                for pair in map(" ".join, pairwise(content)):
                    pair_counts[pair] = pair_counts.get(pair, 0) + 1
                for pair, tf in pair_counts.items():
                    bucket, sign = _bigram_feature(pair, dims)
                    bi_row(row)
                    bi_bucket(bucket)
                    bi_value(sign * (1.0 + log(tf)) if tf > 1 else sign)

        n = len(texts)
        total = _normalize_inplace(unigrams.dense(n, dims)) * self._word_weight
        if use_bigrams:
            total += _normalize_inplace(bigrams.dense(n, dims)) * self._bigram_weight
        if use_chars:
            total += _normalize_inplace(chars.dense(n, dims)) * self._char_weight
        return _normalize_inplace(total).astype(np.float32)

    def __repr__(self) -> str:
        return f"HashingEmbedder(dims={self._dims}, identity={self._identity!r})"
