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
import struct
import threading
from array import array
from collections.abc import Hashable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from autoskill.retrieval.packed_file import Section, read_packed, write_packed
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

# Below this many candidate documents, scoring them from their own term lists beats
# scanning whole posting lists.
_DIRECT_SCORING_LIMIT = 256

# A posting is a (slot, weighted tf) pair of 32-bit values, stored interleaved in one
# ``array('i')`` per term (tf as float32 bits): 8 bytes a posting and one small object per
# term, where dicts cost about 100 bytes a posting. A document's own (term id, tf) pairs
# are kept the same way, for removal and for scoring a few chosen documents.
#
# Removal leaves a document's postings in place (a tombstone: its slot is marked dead and
# skipped when scoring), so it costs the document's own terms, not a scan of each term's
# posting list, which at a million documents holds a million pairs for common words.
# Once dead slots reach this share of the live ones, the posting lists that hold them are
# compacted in one pass and the slots are reused.
_COMPACT_SHARE = 0.25
_COMPACT_MIN = 64
_PAIR = np.dtype([("key", "<i4"), ("tf", "<f4")])
_FLOAT32 = struct.Struct("<f")
_INT32 = struct.Struct("<i")


def _field_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Iterable):
        return "\n".join(str(v) for v in value if v is not None)
    return str(value)


def _pairs(packed: array) -> tuple[np.ndarray, np.ndarray]:
    """Copies of the keys and tfs of a packed pair array.

    Copies, not views: an ``array`` cannot grow while a view of its buffer is alive, and a
    view kept by a traceback would make a later write fail.
    """
    view = np.frombuffer(packed, dtype=_PAIR)
    keys, tfs = view["key"].astype(np.intp), view["tf"].astype(np.float64)
    del view
    return keys, tfs


def _live_pairs(packed: array, live: np.ndarray) -> array:
    """A packed (slot, tf) pair array without the pairs of dead slots."""
    view = np.frombuffer(packed, dtype=_PAIR)
    kept = array("i", view[live[view["key"]]].tobytes())
    del view
    return kept


class BM25Index:
    """BM25 over weighted fields, with incremental add/remove and an inverted index.

    Thread-safe (one lock). A query only touches the postings of its own terms. Postings
    are packed arrays (about 8 bytes each), so a large library's index stays a fraction of
    its text.

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
        # Terms get small integer ids; ids of terms no document holds any more are reused.
        self._term_id: dict[str, int] = {}
        self._terms: list[str | None] = []
        self._free_terms: list[int] = []
        self._postings: list[array | None] = []  # term id -> packed (slot, tf) pairs
        # Documents get slots (rows of the score accumulator); freed slots are reused.
        self._slot_of: dict[Hashable, int] = {}
        self._doc_of: list[Hashable | None] = []
        self._free: list[int] = []
        self._doc_terms: list[array | None] = []  # slot -> packed (term id, tf) pairs
        self._lengths = np.zeros(64, dtype=np.float64)
        self._live = np.zeros(64, dtype=bool)
        # Tombstones: removed slots still named by postings, and how many such pairs each
        # term's posting list holds (its document frequency excludes them).
        self._dead: list[int] = []
        self._dead_pairs: dict[int, int] = {}
        self._total_length = 0.0
        self._tf_bits: dict[float, int] = {}

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

    def _bits(self, tf: float) -> int:
        # Weighted tfs take few distinct values (sums of field weights): convert each once.
        bits = self._tf_bits.get(tf)
        if bits is None:
            bits = self._tf_bits[tf] = _INT32.unpack(_FLOAT32.pack(tf))[0]
        return bits

    def _term(self, term: str) -> int:
        tid = self._term_id.get(term)
        if tid is None:
            if self._free_terms:
                tid = self._free_terms.pop()
                self._terms[tid] = term
                self._postings[tid] = array("i")
            else:
                tid = len(self._terms)
                self._terms.append(term)
                self._postings.append(array("i"))
            self._term_id[term] = tid
        return tid

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
                self._doc_terms.append(None)
                if slot >= len(self._lengths):
                    self._lengths = np.concatenate([self._lengths, np.zeros_like(self._lengths)])
                    self._live = np.concatenate([self._live, np.zeros_like(self._live)])
            else:
                self._doc_of[slot] = doc_id
            self._slot_of[doc_id] = slot
            self._live[slot] = True
            self._lengths[slot] = length
            self._total_length += length
            own: list[int] = []
            for term, tf in tfs.items():
                tid, bits = self._term(term), self._bits(tf)
                self._postings[tid].extend((slot, bits))  # type: ignore[union-attr]
                own += (tid, bits)
            self._doc_terms[slot] = array("i", own)  # built at once: no spare capacity

    def remove(self, doc_id: Hashable) -> bool:
        """Drop a document; returns False when it was not indexed."""
        with self._lock:
            if doc_id not in self._slot_of:
                return False
            self._remove_locked(doc_id)
            return True

    def _remove_locked(self, doc_id: Hashable) -> None:
        slot = self._slot_of.pop(doc_id)
        own = self._doc_terms[slot]
        dead_pairs = self._dead_pairs
        for tid in (own if own is not None else array("i"))[0::2]:
            if self._df(tid) == 1:  # the term's last live document: free the term id
                del self._term_id[self._terms[tid]]  # type: ignore[arg-type]
                self._terms[tid] = None
                self._postings[tid] = None
                dead_pairs.pop(tid, None)
                self._free_terms.append(tid)
            else:
                dead_pairs[tid] = dead_pairs.get(tid, 0) + 1
        self._doc_terms[slot] = None
        self._total_length -= self._lengths[slot]
        self._lengths[slot] = 0.0
        self._live[slot] = False
        self._doc_of[slot] = None
        self._dead.append(slot)
        if len(self._dead) >= max(_COMPACT_MIN, _COMPACT_SHARE * len(self._slot_of)):
            self._compact()

    def _compact(self) -> None:
        """Drop dead slots' pairs from the posting lists that hold them; reuse the slots."""
        for tid in self._dead_pairs:
            self._postings[tid] = _live_pairs(self._postings[tid], self._live)  # type: ignore[arg-type]
        self._dead_pairs.clear()
        self._free.extend(self._dead)
        self._dead.clear()

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

    def _query_terms(self, query: str) -> list[int]:
        """Ids of the distinct query terms the index knows (call under the lock)."""
        known = self._term_id
        return [known[t] for t in dict.fromkeys(tokenize(query, drop_stopwords=True)) if t in known]

    def _df(self, tid: int) -> int:
        """How many live documents hold term ``tid``."""
        return len(self._postings[tid]) // 2 - self._dead_pairs.get(tid, 0)  # type: ignore[arg-type]

    def max_score(self, query: str) -> float:
        """Upper bound of :meth:`score` for ``query`` over any document.

        The sum of ``idf * (k1 + 1)`` over the distinct query terms the index knows.
        Terms no document contains are left out: no document can match them, and counting
        them would let stray words in a query deflate every score.
        """
        with self._lock:
            n_docs = len(self._slot_of)
            return sum(self._idf(self._df(tid), n_docs) * (self.k1 + 1.0) for tid in self._query_terms(query))

    def score(self, query: str, doc_ids: Iterable[Hashable] | None = None) -> dict[Hashable, float]:
        """BM25 scores of the documents matching at least one query term.

        Args:
            query: Query text (tokenised like the documents).
            doc_ids: Restrict scoring to these documents (unknown ids are ignored).

        Returns:
            ``{doc_id: score}`` for matching documents only (score > 0).
        """
        with self._lock:
            terms = self._query_terms(query)
            if not terms or not self._slot_of:
                return {}
            if doc_ids is not None:
                slots = [self._slot_of[d] for d in dict.fromkeys(doc_ids) if d in self._slot_of]
                if len(slots) <= _DIRECT_SCORING_LIMIT:
                    idx, scores = self._score_direct(terms, slots)
                else:
                    acc = self._score_all(terms)
                    idx = np.asarray(slots, dtype=np.int64)
                    scores = acc[idx]
                keep = scores > 0
                idx, scores = idx[keep], scores[keep]
            else:
                acc = self._score_all(terms)
                idx = self._hits(acc)
                scores = acc[idx]
            doc_of = self._doc_of
            return {doc_of[s]: v for s, v in zip(idx.tolist(), scores.tolist())}

    def top(
        self, query: str, k: int, doc_ids: Iterable[Hashable] | None = None
    ) -> list[tuple[Hashable, float]]:
        """The ``k`` best ``(doc_id, score)`` pairs, best first; equal scores by ascending id
        (when the ids compare), so the order does not depend on the index's history."""
        if k <= 0:
            return []
        with self._lock:
            if doc_ids is not None:
                return _best(list(self.score(query, doc_ids).items()), k)
            terms = self._query_terms(query)
            if not terms:
                return []
            acc = self._score_all(terms)
            hits = self._hits(acc)
            if hits.size > k:  # the k best and everything tied with the k-th
                kth = np.partition(acc[hits], hits.size - k)[hits.size - k]
                hits = hits[acc[hits] >= kth]
            doc_of = self._doc_of
            return _best([(doc_of[s], v) for s, v in zip(hits.tolist(), acc[hits].tolist())], k)

    def _norms(self) -> tuple[int, float]:
        n_docs = len(self._slot_of)
        avg = self._total_length / n_docs if n_docs else 0.0
        return n_docs, avg if avg > 0 else 1.0

    def _term_scores(self, tfs: np.ndarray, lengths: np.ndarray, idf: np.ndarray | float) -> np.ndarray:
        n_docs, avg_len = self._norms()
        k1, b = self.k1, self.b
        norm = k1 * (1.0 - b + b * lengths / avg_len)
        return idf * tfs * (k1 + 1.0) / (tfs + norm)

    def _score_all(self, terms: list[int]) -> np.ndarray:
        """Scores of every slot (dead ones included), walking the postings of ``terms``."""
        n_docs = self._norms()[0]
        acc = np.zeros(len(self._doc_of), dtype=np.float64)
        for tid in terms:
            slots, tfs = _pairs(self._postings[tid])  # type: ignore[arg-type]
            # Slots are unique within a posting list, so fancy-index += is exact.
            acc[slots] += self._term_scores(tfs, self._lengths[slots], self._idf(self._df(tid), n_docs))
        return acc

    def _hits(self, acc: np.ndarray) -> np.ndarray:
        """Slots with a positive score in ``acc``, tombstones left out."""
        hits = np.flatnonzero(acc > 0)
        return hits[self._live[hits]] if self._dead else hits

    def _score_direct(self, terms: list[int], slots: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Scores of a few slots, from their own term lists (independent of posting sizes)."""
        own = [self._doc_terms[s] for s in slots]
        counts = np.fromiter((len(o) // 2 for o in own), dtype=np.intp, count=len(own))  # type: ignore[arg-type]
        tids, tfs = _pairs(array("i", b"".join(o.tobytes() for o in own)))  # type: ignore[union-attr]
        rows = np.repeat(np.arange(len(slots)), counts)
        query = np.asarray(terms, dtype=np.intp)
        hit = np.isin(tids, query)
        tids, tfs, rows = tids[hit], tfs[hit], rows[hit]
        n_docs = self._norms()[0]
        idf_of = {tid: self._idf(self._df(tid), n_docs) for tid in terms}
        idfs = np.fromiter((idf_of[t] for t in tids.tolist()), dtype=np.float64, count=len(tids))
        picked = np.asarray(slots, dtype=np.intp)
        scores = np.zeros(len(slots), dtype=np.float64)
        np.add.at(scores, rows, self._term_scores(tfs, self._lengths[picked[rows]], idfs))
        return picked, scores

    # -- persistence ---------------------------------------------------------------------

    def doc_ids(self) -> set[Hashable]:
        """The ids of the indexed documents."""
        with self._lock:
            return set(self._slot_of)

    def params(self) -> dict[str, Any]:
        """The scoring parameters (what :meth:`load` compares against)."""
        return {"field_weights": dict(self.field_weights), "default_weight": self.default_weight,
                "k1": self.k1, "b": self.b}

    def save(self, path: str | Path, meta: Mapping[str, Any] | None = None) -> None:
        """Write the index to one file, atomically (document ids must be ints).

        Args:
            path: The file to write.
            meta: JSON-serialisable values stored alongside and returned by :meth:`load`
                (a store records which ledger change the index reflects).
        """
        with self._lock:
            if self._dead:
                self._compact()
            slots = len(self._doc_of)
            ids = np.zeros(slots, dtype=np.int64)
            live = self._live[:slots].copy()
            for slot, doc_id in enumerate(self._doc_of):
                if doc_id is not None:
                    if type(doc_id) is not int:
                        raise TypeError(f"only int document ids can be saved, got {doc_id!r}")
                    ids[slot] = doc_id
            sections: dict[str, Section] = {
                "terms": np.frombuffer("\n".join(t or "" for t in self._terms).encode("utf-8"), dtype=np.uint8),
                "posting_offsets": _offsets(self._postings),
                "postings": self._postings,  # streamed array by array, never joined in memory
                "doc_offsets": _offsets(self._doc_terms),
                "doc_pairs": self._doc_terms,
                "doc_ids": ids,
                "live": live,
                "lengths": self._lengths[:slots].copy(),
            }
            # Derived data: no fsync; a file torn by a crash fails its checksum and is rebuilt.
            write_packed(path, sections, {"format": _FILE_FORMAT, "params": self.params(), "meta": dict(meta or {})})

    @classmethod
    def load(cls, path: str | Path, field_weights: Mapping[str, float] | None = None, *,
             default_weight: float = 1.0, k1: float = 1.2, b: float = 0.75) -> tuple[BM25Index, dict[str, Any]]:
        """Read an index written by :meth:`save`, with the parameters it must have.

        Returns:
            The index and the ``meta`` it was saved with.

        Raises:
            ValueError: The file is damaged, from another version, or was built with other
                parameters (the message says which). ``OSError`` when it cannot be read.
        """
        index = cls(field_weights, default_weight=default_weight, k1=k1, b=b)
        arrays, header = read_packed(path)
        if header.get("format") != _FILE_FORMAT or {k: v.dtype.str for k, v in arrays.items()} != _FILE_ARRAYS:
            raise ValueError(f"{path}: not a {_FILE_FORMAT} file")
        if header.get("params") != index.params():
            raise ValueError(f"{path}: built with other parameters ({header.get('params')})")
        index._restore(arrays, str(path))
        meta = header.get("meta")
        return index, meta if isinstance(meta, dict) else {}

    def _restore(self, arrays: Mapping[str, np.ndarray], name: str) -> None:
        """Fill an empty index from saved arrays, after checking they fit together."""
        terms = bytes(arrays["terms"]).decode("utf-8").split("\n") if arrays["terms"].size else []
        ids, live, lengths = arrays["doc_ids"], arrays["live"], arrays["lengths"]
        slots = ids.shape[0]
        postings, doc_pairs = arrays["postings"], arrays["doc_pairs"]
        post_offsets, doc_offsets = arrays["posting_offsets"], arrays["doc_offsets"]
        problems = []
        if not (live.shape == lengths.shape == (slots,) and post_offsets.shape == (len(terms) + 1,)
                and doc_offsets.shape == (slots + 1,)):
            problems.append("array sizes disagree")
        else:
            for label, offsets, packed in (("postings", post_offsets, postings), ("documents", doc_offsets, doc_pairs)):
                steps = np.diff(offsets)
                if offsets[0] != 0 or offsets[-1] != packed.size or (steps < 0).any() or (steps % 2).any():
                    problems.append(f"{label} offsets are out of range")
            if not problems:
                keys, tids = postings[0::2], doc_pairs[0::2]
                if keys.size and (keys.min() < 0 or keys.max() >= slots or not live[keys].all()):
                    problems.append("a posting names a missing document")
                if tids.size and (tids.min() < 0 or tids.max() >= len(terms)):
                    problems.append("a document names a missing term")
                if keys.size != tids.size:
                    problems.append("postings and documents disagree")
                if not np.isfinite(lengths).all() or (lengths < 0).any():
                    problems.append("bad document lengths")
                if np.unique(ids[live]).size != int(live.sum()):
                    problems.append("repeated document ids")
        if problems:
            raise ValueError(f"{name}: {'; '.join(problems)}")
        # One array each, then slices of it (a C-level copy per term or document).
        all_postings, all_pairs = array("i"), array("i")
        all_postings.frombytes(memoryview(np.ascontiguousarray(postings)).cast("B"))
        all_pairs.frombytes(memoryview(np.ascontiguousarray(doc_pairs)).cast("B"))
        bounds = post_offsets.tolist()
        self._terms = [term or None for term in terms]
        self._postings = [all_postings[a:z] if term else None for term, a, z in zip(terms, bounds, bounds[1:])]
        self._term_id = {term: tid for tid, term in enumerate(terms) if term}
        self._free_terms = [tid for tid, term in enumerate(terms) if not term]
        bounds = doc_offsets.tolist()
        alive = live.tolist()
        doc_ids = ids.tolist()
        self._doc_of = [d if a else None for d, a in zip(doc_ids, alive)]
        self._doc_terms = [all_pairs[a:z] if on else None for on, a, z in zip(alive, bounds, bounds[1:])]
        self._slot_of = {d: slot for slot, (d, a) in enumerate(zip(doc_ids, alive)) if a}
        self._free = [slot for slot, a in enumerate(alive) if not a]
        capacity = max(64, slots)
        self._lengths = np.zeros(capacity, dtype=np.float64)
        self._lengths[:slots] = np.where(live, lengths, 0.0)
        self._live = np.zeros(capacity, dtype=bool)
        self._live[:slots] = live
        self._total_length = float(self._lengths.sum())


def _best(pairs: list[tuple[Hashable, float]], k: int) -> list[tuple[Hashable, float]]:
    """The ``k`` best pairs by score, ties by id when the ids are comparable."""
    try:
        return sorted(pairs, key=lambda item: (-item[1], item[0]))[:k]  # type: ignore[operator]
    except TypeError:  # ids of mixed types
        return sorted(pairs, key=lambda item: -item[1])[:k]


_FILE_FORMAT = "autoskill-bm25/1"
_FILE_ARRAYS = {"terms": "|u1", "posting_offsets": "<i8", "postings": "<i4", "doc_offsets": "<i8",
                "doc_pairs": "<i4", "doc_ids": "<i8", "live": "|b1", "lengths": "<f8"}


def _offsets(packed: list[array | None]) -> np.ndarray:
    sizes = np.fromiter((0 if p is None else len(p) for p in packed), dtype=np.int64, count=len(packed))
    return np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(sizes)])
