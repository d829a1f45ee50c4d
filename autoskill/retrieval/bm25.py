"""Incremental BM25 over weighted fields (the simple BM25F variant).

A document is a mapping of field name to text (``name``, ``description``, ``triggers``,
``tags``, ``instructions``, ...). Term frequencies are summed across fields with per-field
weights, and so is the document length; the usual BM25 saturation and length
normalisation apply to those weighted sums. This is the common "BM25F-simple" form: one
``b`` for all fields, which keeps the index small and the scores easy to bound.

Scores are unbounded in BM25, but every term's contribution is below ``idf * (k1 + 1)``,
so :meth:`BM25Index.max_score` gives a document-independent bound and
``score / max_score`` is an absolute value in [0, 1) that can be compared across queries.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

import numpy as np

from autoskill.retrieval.text import tokenize

__all__ = ["DEFAULT_FIELD_WEIGHTS", "BM25Index"]

#: Field weights used when none are given: a word in the name says more than one deep in
#: the instructions.
DEFAULT_FIELD_WEIGHTS: Mapping[str, float] = {
    "name": 3.0,
    "aliases": 2.5,
    "triggers": 2.0,
    "description": 2.0,
    "tags": 1.5,
    "when_to_use": 1.5,
    "examples": 1.0,
    "instructions": 1.0,
}

# Below this many candidate documents, scoring them one by one through dict lookups beats
# building whole posting arrays.
_DIRECT_SCORING_LIMIT = 256


def _field_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Iterable):
        return "\n".join(str(v) for v in value if v is not None)
    return str(value)


class _Posting:
    """Postings of one term: slot -> weighted tf, with a lazily built array form."""

    __slots__ = ("_slots", "_tfs", "weights")

    def __init__(self) -> None:
        self.weights: dict[int, float] = {}
        self._slots: np.ndarray | None = None
        self._tfs: np.ndarray | None = None

    def invalidate(self) -> None:
        self._slots = None
        self._tfs = None

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self._slots is None or self._tfs is None:
            n = len(self.weights)
            self._slots = np.fromiter(self.weights.keys(), dtype=np.int64, count=n)
            self._tfs = np.fromiter(self.weights.values(), dtype=np.float64, count=n)
        return self._slots, self._tfs


class BM25Index:
    """BM25 over weighted fields, with incremental add/remove and an inverted index.

    Thread-safe (one lock). A query only touches the postings of its own terms.

    Args:
        field_weights: Weight per field name; defaults to :data:`DEFAULT_FIELD_WEIGHTS`.
        default_weight: Weight of fields not listed in ``field_weights`` (0 ignores them).
        k1: Term-frequency saturation.
        b: Length normalisation strength, in [0, 1].
    """

    def __init__(
        self,
        field_weights: Mapping[str, float] | None = None,
        *,
        default_weight: float = 1.0,
        k1: float = 1.2,
        b: float = 0.75,
    ) -> None:
        if k1 < 0 or not 0.0 <= b <= 1.0:
            raise ValueError(f"need k1 >= 0 and 0 <= b <= 1, got k1={k1}, b={b}")
        weights = dict(DEFAULT_FIELD_WEIGHTS if field_weights is None else field_weights)
        if any(w < 0 for w in weights.values()) or default_weight < 0:
            raise ValueError("field weights must be >= 0")
        self.field_weights: Mapping[str, float] = weights
        self.default_weight = float(default_weight)
        self.k1 = float(k1)
        self.b = float(b)
        self._lock = threading.RLock()
        self._postings: dict[str, _Posting] = {}
        self._slot_of: dict[Hashable, int] = {}
        self._doc_of: list[Hashable | None] = []
        self._free: list[int] = []
        self._doc_terms: dict[int, tuple[str, ...]] = {}
        self._lengths = np.zeros(64, dtype=np.float64)
        self._total_length = 0.0
        self._floats: dict[float, float] = {}

    # -- mutation ------------------------------------------------------------------------

    def _weighted_terms(self, fields: Mapping[str, Any]) -> tuple[dict[str, float], float]:
        tfs: dict[str, float] = {}
        length = 0.0
        for field, value in fields.items():
            weight = self.field_weights.get(field, self.default_weight)
            if weight <= 0:
                continue
            terms = tokenize(_field_text(value), drop_stopwords=True)
            length += weight * len(terms)
            for term in terms:
                tfs[term] = tfs.get(term, 0.0) + weight
        return tfs, length

    def add(self, doc_id: Hashable, fields: Mapping[str, Any]) -> None:
        """Index a document (replacing any document with the same id).

        Args:
            doc_id: Any hashable id.
            fields: Field name -> text (or a list of strings, e.g. tags).
        """
        tfs, length = self._weighted_terms(fields)
        with self._lock:
            if doc_id in self._slot_of:
                self._remove_locked(doc_id)
            slot = self._free.pop() if self._free else len(self._doc_of)
            if slot == len(self._doc_of):
                self._doc_of.append(doc_id)
                if slot >= len(self._lengths):
                    self._lengths = np.concatenate([self._lengths, np.zeros_like(self._lengths)])
            else:
                self._doc_of[slot] = doc_id
            self._slot_of[doc_id] = slot
            self._lengths[slot] = length
            self._total_length += length
            self._doc_terms[slot] = tuple(tfs)
            floats = self._floats
            for term, tf in tfs.items():
                posting = self._postings.get(term)
                if posting is None:
                    posting = self._postings[term] = _Posting()
                # Weighted tfs take few distinct values (sums of field weights): one shared
                # float object each instead of one per posting saves ~24 bytes a posting.
                posting.weights[slot] = floats.setdefault(tf, tf)
                posting.invalidate()

    def remove(self, doc_id: Hashable) -> bool:
        """Drop a document; returns False when it was not indexed."""
        with self._lock:
            if doc_id not in self._slot_of:
                return False
            self._remove_locked(doc_id)
            return True

    def _remove_locked(self, doc_id: Hashable) -> None:
        slot = self._slot_of.pop(doc_id)
        for term in self._doc_terms.pop(slot):
            posting = self._postings[term]
            del posting.weights[slot]
            if posting.weights:
                posting.invalidate()
            else:
                del self._postings[term]
        self._total_length -= self._lengths[slot]
        self._lengths[slot] = 0.0
        self._doc_of[slot] = None
        self._free.append(slot)

    # -- introspection -------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._slot_of

    # -- scoring -------------------------------------------------------------------------

    def _idf(self, df: int, n_docs: int) -> float:
        # The "plus one" BM25 idf (Lucene): always positive, so a term present in most
        # documents still adds a little instead of subtracting.
        return math.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))

    def _query_terms(self, query: str) -> list[str]:
        return list(dict.fromkeys(tokenize(query, drop_stopwords=True)))

    def max_score(self, query: str) -> float:
        """Upper bound of :meth:`score` for ``query`` over any document.

        The sum of ``idf * (k1 + 1)`` over the distinct query terms the index knows.
        Terms no document contains are left out: no document can match them, and counting
        them would let stray words in a query deflate every score.
        """
        with self._lock:
            n_docs = len(self._slot_of)
            total = 0.0
            for term in self._query_terms(query):
                posting = self._postings.get(term)
                if posting is not None:
                    total += self._idf(len(posting.weights), n_docs) * (self.k1 + 1.0)
            return total

    def score(self, query: str, doc_ids: Iterable[Hashable] | None = None) -> dict[Hashable, float]:
        """BM25 scores of the documents matching at least one query term.

        Args:
            query: Query text (tokenised like the documents).
            doc_ids: Restrict scoring to these documents (unknown ids are ignored).

        Returns:
            ``{doc_id: score}`` for matching documents only (score > 0).
        """
        with self._lock:
            terms = [t for t in self._query_terms(query) if t in self._postings]
            if not terms or not self._slot_of:
                return {}
            if doc_ids is not None:
                slots = [self._slot_of[d] for d in dict.fromkeys(doc_ids) if d in self._slot_of]
                if len(slots) <= _DIRECT_SCORING_LIMIT:
                    return self._score_direct(terms, slots)
                acc = self._score_all(terms)
                idx = np.asarray(slots, dtype=np.int64)
                keep = idx[acc[idx] > 0]
            else:
                acc = self._score_all(terms)
                keep = np.flatnonzero(acc > 0)
            doc_of = self._doc_of
            return {doc_of[s]: v for s, v in zip(keep.tolist(), acc[keep].tolist())}

    def top(
        self, query: str, k: int, doc_ids: Iterable[Hashable] | None = None
    ) -> list[tuple[Hashable, float]]:
        """The ``k`` best ``(doc_id, score)`` pairs, best first."""
        if k <= 0:
            return []
        with self._lock:
            if doc_ids is not None:
                scored = self.score(query, doc_ids)
                return sorted(scored.items(), key=lambda item: -item[1])[:k]
            terms = [t for t in self._query_terms(query) if t in self._postings]
            if not terms:
                return []
            acc = self._score_all(terms)
            hits = np.flatnonzero(acc > 0)
            if hits.size > k:
                hits = hits[np.argpartition(-acc[hits], k - 1)[:k]]
            hits = hits[np.argsort(-acc[hits], kind="stable")]
            return [(self._doc_of[s], float(acc[s])) for s in hits.tolist()]

    def _norms(self) -> tuple[float, float]:
        n_docs = len(self._slot_of)
        avg = self._total_length / n_docs if n_docs else 0.0
        return float(n_docs), avg if avg > 0 else 1.0

    def _score_all(self, terms: list[str]) -> np.ndarray:
        n_docs, avg_len = self._norms()
        k1, b = self.k1, self.b
        acc = np.zeros(len(self._doc_of), dtype=np.float64)
        for term in terms:
            slots, tfs = self._postings[term].arrays()
            idf = self._idf(len(slots), int(n_docs))
            norm = k1 * (1.0 - b + b * self._lengths[slots] / avg_len)
            # Slots are unique within a posting list, so fancy-index += is exact.
            acc[slots] += idf * tfs * (k1 + 1.0) / (tfs + norm)
        return acc

    def _score_direct(self, terms: list[str], slots: list[int]) -> dict[Hashable, float]:
        n_docs, avg_len = self._norms()
        k1, b = self.k1, self.b
        out: dict[Hashable, float] = {}
        postings = [
            (self._postings[t].weights, self._idf(len(self._postings[t].weights), int(n_docs)))
            for t in terms
        ]
        for slot in slots:
            norm = k1 * (1.0 - b + b * float(self._lengths[slot]) / avg_len)
            total = 0.0
            for weights, idf in postings:
                tf = weights.get(slot)
                if tf is not None:
                    total += idf * tf * (k1 + 1.0) / (tf + norm)
            if total > 0:
                out[self._doc_of[slot]] = total  # type: ignore[index]
        return out
