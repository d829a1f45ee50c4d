"""``SkillVectorStore``: a LangChain ``VectorStore`` on AutoSkill's FAISS store.

Documents added through it are stored faithfully as plain records (exact ``page_content``,
metadata and id) in the store's index, in the store's ``namespace``. A Document becomes a
skill only when it carries skill fields (see :func:`autoskill_lc.documents.is_skill_document`):
its metadata has ``skill_id``, or ``autoskill_skill: True`` with a ``name``. Such a document
is upserted as a skill owned by the store's user, never into a shared library.

Searches return the namespace's records and the skills the user may see (their own plus
the shared libraries), merged by cosine similarity. Scores of ``*_with_score`` methods are
cosine similarities (higher is better); relevance scores are the same numbers clipped to
[0, 1]. Returned documents carry exactly the metadata they were stored with: nothing is
injected (the score travels beside the document, in the tuple).
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore
from langchain_core.vectorstores.utils import maximal_marginal_relevance

from autoskill._fs import atomic_write_text
from autoskill.client import AutoSkill
from autoskill.config import AutoSkillConfig
from autoskill.embeddings import Embedder, LangChainEmbedder
from autoskill.embeddings.base import float32_vector
from autoskill.errors import AutoSkillError, ConfigError
from autoskill.skill.model import STATUSES, Skill
from autoskill.store.base import Record, SkillFilter
from autoskill.store.local import MANIFEST as STORE_MANIFEST
from autoskill.store.local import LocalSkillStore
from autoskill.store.memory import InMemorySkillStore
from autoskill_lc.documents import (
    document_to_skill,
    is_skill_document,
    record_to_document,
    skill_to_document,
)
from autoskill_lc.embeddings import AutoSkillEmbeddings, as_langchain_embeddings, to_core_embedder

__all__ = ["MetadataFilter", "SkillVectorStore"]

MetadataFilter = Mapping[str, Any] | Callable[[Document], bool] | None

MANIFEST = "langchain_vectorstore.json"
_FORMAT = "autoskill-lc-vectorstore"


class _Match(NamedTuple):
    document: Document
    score: float
    is_skill: bool


def _relevance(similarity: float) -> float:
    # Cosine similarity clipped at 0: the same absolute [0, 1] scale the core reports.
    return min(1.0, max(0.0, float(similarity)))


def _admits(flt: MetadataFilter, document: Document) -> bool:
    if flt is None:
        return True
    if isinstance(flt, Mapping):
        return all(document.metadata.get(key) == value for key, value in flt.items())
    return bool(flt(document))


def _check_filter(flt: Any) -> MetadataFilter:
    if flt is None or isinstance(flt, Mapping) or callable(flt):
        return flt  # type: ignore[no-any-return]
    raise ConfigError(f"filter must be a dict or a callable taking a Document, got {type(flt).__name__}")


def _no_extra(method: str, kwargs: Mapping[str, Any]) -> None:
    if kwargs:
        raise TypeError(f"SkillVectorStore.{method}() got unexpected keyword arguments {sorted(kwargs)}")


def _same_embedder(embedding: Any, embedder: Embedder) -> bool:
    if embedding is embedder:
        return True
    if isinstance(embedder, LangChainEmbedder) and embedding is embedder.wrapped:
        return True
    if isinstance(embedding, AutoSkillEmbeddings) and embedding.embedder is embedder:
        return True
    try:
        return to_core_embedder(embedding).identity == embedder.identity
    except (AutoSkillError, TypeError):
        return False


class SkillVectorStore(VectorStore):
    """A LangChain vector store over AutoSkill's FAISS store (records plus skills).

    Construct it like LangChain's own stores, ``SkillVectorStore(embedding=...)`` (in
    memory, standalone), or over an AutoSkill instance, ``SkillVectorStore(sdk=sdk,
    user_id="u1")``, sharing the sdk's store and embedder.

    Args:
        embedding: A LangChain ``Embeddings``. Required standalone; with ``sdk`` it may only
            be the sdk's own embedder.
        sdk: An :class:`~autoskill.AutoSkill` whose store and embedder to use.
        user_id: The user this store acts for: skill documents become this user's skills and
            searches see this user's skills plus shared libraries (default ``"default"``).
        namespace: The record namespace (one per logical collection).
        scope: Which skills searches see: ``"all"``, ``"user"`` or ``"library"``.

    Raises:
        ConfigError: Neither ``embedding`` nor ``sdk``; an ``embedding`` other than the sdk's;
            a bad ``scope``.
    """

    def __init__(
        self,
        embedding: Embeddings | None = None,
        *,
        sdk: AutoSkill | None = None,
        user_id: str | None = None,
        namespace: str = "default",
        scope: str = "all",
    ) -> None:
        if sdk is None:
            if embedding is None:
                raise ConfigError("SkillVectorStore needs embedding=... (standalone) or sdk=<AutoSkill>")
            core = to_core_embedder(embedding)
            sdk = AutoSkill(AutoSkillConfig(embeddings=core, store=InMemorySkillStore(core)))
        elif embedding is not None and not _same_embedder(embedding, sdk.embedder):
            raise ConfigError(
                "SkillVectorStore(sdk=...) uses the sdk's embedder; the embedding passed differs "
                f"({type(embedding).__name__} vs {sdk.embedder.identity!r}). Omit embedding=, or "
                "configure the sdk with it"
            )
        if not isinstance(namespace, str) or not namespace:
            raise ConfigError(f"namespace must be a non-empty string, got {namespace!r}")
        self.sdk = sdk
        self.user_id = user_id
        self.namespace = namespace
        self.scope = SkillFilter(scope=scope).scope  # validated, "common" -> "library"
        self._embedding = embedding if embedding is not None else as_langchain_embeddings(sdk.embedder)

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def embeddings(self) -> Embeddings:
        """The LangChain embeddings this store embeds with."""
        return self._embedding

    @property
    def store(self) -> Any:
        """The core skill store (records and skills)."""
        return self.sdk.store

    def _owner(self, user_id: str | None = None) -> str:
        return user_id or self.user_id or "default"

    def _skill_filter(self, owner: str) -> SkillFilter:
        return SkillFilter(user_id=owner, scope=self.scope)

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        return _relevance

    # -- writing ----------------------------------------------------------------------------

    def _plan(
        self, documents: Sequence[Document], ids: Sequence[str | None] | None
    ) -> tuple[list[str], list[tuple[int, Record]], list[tuple[int, Document, str | None]]]:
        """Split documents into plain records and skill documents, resolving ids (pure)."""
        if ids is not None and len(ids) != len(documents):
            raise ValueError(f"got {len(ids)} ids for {len(documents)} documents")
        out: list[str] = []
        records: list[tuple[int, Record]] = []
        skills: list[tuple[int, Document, str | None]] = []
        for position, document in enumerate(documents):
            given = ids[position] if ids is not None else None
            if is_skill_document(document):
                metadata = document.metadata
                wanted = given or metadata.get("skill_id") or document.id
                skills.append((position, document, str(wanted) if wanted else None))
                out.append("")  # known once stored (the id may be derived)
                continue
            record_id = str(given or document.id or uuid.uuid4())
            records.append((position, Record(id=record_id, text=document.page_content,
                                             metadata=dict(document.metadata or {}), namespace=self.namespace)))
            out.append(record_id)
        return out, records, skills

    def _upsert_skills(self, items: Sequence[tuple[int, Document, str | None]]) -> list[Skill]:
        owner = self._owner()
        built: list[Skill] = []
        for _, document, wanted in items:
            existing = self.store.get(wanted) if wanted else None
            if existing is not None and not (existing.scope == "user" and existing.user_id == owner):
                # Another user's or a library's skill: store this user's own copy instead.
                wanted, existing = None, None
            skill = document_to_skill(document, user_id=owner, skill_id=wanted, existing=existing)
            if existing is None:
                prior = self.store.get(skill.id)
                if prior is not None:
                    skill = document_to_skill(document, user_id=owner, skill_id=skill.id, existing=prior)
            built.append(skill)
        return self.store.upsert_many(built, reason="added through SkillVectorStore")

    def add_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        """Add or update documents by id (``ids=`` wins over ``Document.id``; missing ids get a uuid4).

        Returns:
            The ids, in order (a skill document's id is its skill id).
        """
        ids = kwargs.pop("ids", None)
        _no_extra("add_documents", kwargs)
        out, records, skills = self._plan(documents, ids)
        if records:
            vectors = self.sdk.embedder.embed_documents([r.text for _, r in records])
            self.store.upsert_records([r for _, r in records], vectors)
        if skills:
            for (position, _, _), skill in zip(skills, self._upsert_skills(skills)):
                out[position] = skill.id
        return out

    async def aadd_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        """Async :meth:`add_documents` (async embedding, store writes in a worker thread)."""
        ids = kwargs.pop("ids", None)
        _no_extra("aadd_documents", kwargs)
        out, records, skills = self._plan(documents, ids)
        if records:
            vectors = await self.sdk.embedder.aembed_documents([r.text for _, r in records])
            await asyncio.to_thread(self.store.upsert_records, [r for _, r in records], vectors)
        if skills:
            stored = await asyncio.to_thread(self._upsert_skills, skills)
            for (position, _, _), skill in zip(skills, stored):
                out[position] = skill.id
        return out

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Add texts (with optional metadatas and ids); see :meth:`add_documents`."""
        return self.add_documents(self._text_documents(texts, metadatas), ids=ids, **kwargs)

    @staticmethod
    def _text_documents(texts: Iterable[str], metadatas: list[dict[str, Any]] | None) -> list[Document]:
        items = list(texts)
        if metadatas is not None and len(metadatas) != len(items):
            raise ValueError(f"got {len(metadatas)} metadatas for {len(items)} texts")
        return [Document(page_content=t, metadata=(metadatas[i] if metadatas else {}))
                for i, t in enumerate(items)]

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete records (and this user's own skills) by id; unknown ids are ignored.

        ``delete()`` with no ids clears the namespace's records (skills are kept).
        """
        _no_extra("delete", kwargs)
        if ids is None:
            self.store.delete_records(None, namespace=self.namespace)
            return True
        wanted = [str(i) for i in ids]
        self.store.delete_records(wanted, namespace=self.namespace)
        owner = self._owner()
        for skill_id in wanted:
            skill = self.store.get(skill_id)
            if skill is not None and skill.scope == "user" and skill.user_id == owner:
                self.store.delete(skill_id)
        return True

    async def adelete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Async :meth:`delete` (in a worker thread)."""
        return await asyncio.to_thread(self.delete, ids, **kwargs)

    # -- reading ----------------------------------------------------------------------------

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Records of the namespace and skills visible to the user with these ids (unknown ids skipped)."""
        wanted = list(dict.fromkeys(str(i) for i in ids))
        records = {r.id: r for r in self.store.get_records(wanted, namespace=self.namespace)}
        flt = self._skill_filter(self._owner())
        out: list[Document] = []
        for item in wanted:
            if item in records:
                out.append(record_to_document(records[item]))
                continue
            skill = self.store.get(item)
            if skill is not None and flt.admits(skill):
                out.append(skill_to_document(skill))
        return out

    async def aget_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Async :meth:`get_by_ids` (in a worker thread)."""
        return await asyncio.to_thread(self.get_by_ids, ids)

    def _record_matches(self, vector: np.ndarray, k: int, flt: MetadataFilter) -> list[_Match]:
        where: Any = None
        if isinstance(flt, Mapping):
            where = dict(flt)
        elif flt is not None:
            where = lambda record: bool(flt(record_to_document(record)))  # noqa: E731
        hits = self.store.search_records(vector, k, namespace=self.namespace, where=where)
        return [_Match(record_to_document(record), score, False) for record, score in hits]

    def _skill_matches(self, vector: np.ndarray, k: int, flt: MetadataFilter, owner: str) -> list[_Match]:
        wanted_user = flt.get("user_id") if isinstance(flt, Mapping) else None
        if k <= 0 or (isinstance(wanted_user, str) and wanted_user != owner):
            return []  # only the owner's skills carry a user_id, and they carry the owner's
        skill_filter = self._skill_filter(owner)
        fetch = k if flt is None else max(k * 4, 32)
        while True:
            hits = self.store.search(vector, fetch, skill_filter)
            out = []
            for hit in hits:
                document = skill_to_document(hit.skill)
                if _admits(flt, document):
                    out.append(_Match(document, hit.similarity, True))
                    if len(out) == k:
                        return out
            if len(hits) < fetch:
                return out
            fetch *= 4

    def _matches(self, vector: Any, k: int, flt: Any, user_id: str | None) -> list[_Match]:
        """Records and visible skills nearest to ``vector``, merged by similarity."""
        flt = _check_filter(flt)
        if k <= 0:
            return []
        query = float32_vector(vector)
        records = self._record_matches(query, k, flt)
        skills = self._skill_matches(query, k, flt, self._owner(user_id))
        if not skills:
            return records  # ranked already (score, then id)
        found = records + skills
        found.sort(key=lambda m: -m.score)
        return found[:k]

    def similarity_search_with_score(
        self, query: str, k: int = 4, filter: MetadataFilter = None, *,  # noqa: A002
        user_id: str | None = None, **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        """Documents nearest to ``query`` with their cosine similarity (higher is better).

        Args:
            query: The text to search for.
            k: How many results.
            filter: Metadata equality as a dict (``{"user_id": "u1"}``), or a callable taking
                a Document and returning a bool.
            user_id: Act for this user instead of the store's user (which skills are visible).
        """
        _no_extra("similarity_search_with_score", kwargs)
        vector = self.sdk.embedder.embed_query(query)
        return [(m.document, m.score) for m in self._matches(vector, k, filter, user_id)]

    async def asimilarity_search_with_score(
        self, query: str, k: int = 4, filter: MetadataFilter = None, *,  # noqa: A002
        user_id: str | None = None, **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        """Async :meth:`similarity_search_with_score`."""
        _no_extra("asimilarity_search_with_score", kwargs)
        vector = await self.sdk.embedder.aembed_query(query)
        matches = await asyncio.to_thread(self._matches, vector, k, filter, user_id)
        return [(m.document, m.score) for m in matches]

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        """Documents nearest to ``query`` (see :meth:`similarity_search_with_score`)."""
        return [doc for doc, _ in self.similarity_search_with_score(query, k, **kwargs)]

    async def asimilarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        """Async :meth:`similarity_search`."""
        return [doc for doc, _ in await self.asimilarity_search_with_score(query, k, **kwargs)]

    def similarity_search_by_vector(
        self, embedding: list[float], k: int = 4, filter: MetadataFilter = None, *,  # noqa: A002
        user_id: str | None = None, **kwargs: Any,
    ) -> list[Document]:
        """Documents nearest to an embedding vector (no query embedding)."""
        _no_extra("similarity_search_by_vector", kwargs)
        return [m.document for m in self._matches(embedding, k, filter, user_id)]

    async def asimilarity_search_by_vector(
        self, embedding: list[float], k: int = 4, filter: MetadataFilter = None, *,  # noqa: A002
        user_id: str | None = None, **kwargs: Any,
    ) -> list[Document]:
        """Async :meth:`similarity_search_by_vector` (in a worker thread)."""
        _no_extra("asimilarity_search_by_vector", kwargs)
        matches = await asyncio.to_thread(self._matches, embedding, k, filter, user_id)
        return [m.document for m in matches]

    def _vector_of(self, match: _Match) -> np.ndarray:
        doc_id = str(match.document.id)
        vector = self.store.vector(doc_id) if match.is_skill else self.store.record_vector(
            doc_id, namespace=self.namespace)
        return vector if vector is not None else np.zeros(self.store.dims, dtype=np.float32)

    def _mmr(self, vector: Any, k: int, fetch_k: int, lambda_mult: float, flt: Any,
             user_id: str | None) -> list[Document]:
        matches = self._matches(vector, max(fetch_k, k), flt, user_id)
        if not matches:
            return []
        candidates = [self._vector_of(m) for m in matches]
        chosen = maximal_marginal_relevance(np.asarray(vector, dtype=np.float32), candidates,
                                            lambda_mult=lambda_mult, k=min(k, len(matches)))
        return [matches[i].document for i in chosen]

    def max_marginal_relevance_search_by_vector(
        self, embedding: list[float], k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5,
        filter: MetadataFilter = None, *, user_id: str | None = None, **kwargs: Any,  # noqa: A002
    ) -> list[Document]:
        """Diverse results: ``k`` of the ``fetch_k`` nearest, chosen by maximal marginal relevance."""
        _no_extra("max_marginal_relevance_search_by_vector", kwargs)
        return self._mmr(embedding, k, fetch_k, lambda_mult, filter, user_id)

    def max_marginal_relevance_search(
        self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5,
        filter: MetadataFilter = None, *, user_id: str | None = None, **kwargs: Any,  # noqa: A002
    ) -> list[Document]:
        """:meth:`max_marginal_relevance_search_by_vector` for a text query."""
        _no_extra("max_marginal_relevance_search", kwargs)
        return self._mmr(self.sdk.embedder.embed_query(query), k, fetch_k, lambda_mult, filter, user_id)

    async def amax_marginal_relevance_search(
        self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5,
        filter: MetadataFilter = None, *, user_id: str | None = None, **kwargs: Any,  # noqa: A002
    ) -> list[Document]:
        """Async :meth:`max_marginal_relevance_search`."""
        _no_extra("amax_marginal_relevance_search", kwargs)
        vector = await self.sdk.embedder.aembed_query(query)
        return await asyncio.to_thread(self._mmr, vector, k, fetch_k, lambda_mult, filter, user_id)

    # -- construction and persistence ---------------------------------------------------------

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings | None = None,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> SkillVectorStore:
        """A new store (``kwargs`` go to the constructor) holding ``texts``."""
        store = cls(embedding, **kwargs)
        store.add_texts(texts, metadatas, ids=ids)
        return store

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Persist the namespace's records and the visible skills as a local AutoSkill store.

        The folder is an ordinary local store (SQLite ledger, SKILL.md tree; no pickle);
        the namespace's records there are replaced. Over an sdk whose local store already
        lives in ``folder``, only the small manifest naming namespace, user and scope is
        written.

        Returns:
            The folder.
        """
        target = Path(folder).expanduser()
        root = getattr(self.store, "root", None)
        if root is None or Path(root).resolve() != target.resolve():
            destination = LocalSkillStore(target, self.sdk.embedder, check_files=False)
            try:
                self._copy_into(destination)
            finally:
                destination.close()
        manifest = {"format": _FORMAT, "version": 1, "namespace": self.namespace,
                    "user_id": self.user_id, "scope": self.scope}
        atomic_write_text(target / MANIFEST, json.dumps(manifest, indent=2))
        return target

    def _copy_into(self, destination: LocalSkillStore) -> None:
        records = self.store.list_records(namespace=self.namespace)
        destination.delete_records(None, namespace=self.namespace)
        if records:
            vectors = np.vstack([self.store.record_vector(r.id, namespace=self.namespace) for r in records])
            destination.upsert_records(records, vectors)
        skills = self.store.list(SkillFilter(user_id=self._owner(), scope=self.scope, statuses=STATUSES))
        if skills:
            vectors = np.vstack([self.store.vector(s.id) for s in skills])
            destination.upsert_many(skills, vectors, reason="saved from SkillVectorStore", allow_library=True)

    @classmethod
    def load(
        cls,
        folder: str | os.PathLike[str],
        embedding: Embeddings,
        *,
        user_id: str | None = None,
        namespace: str | None = None,
        scope: str | None = None,
        **store_options: Any,
    ) -> SkillVectorStore:
        """Open a store written by :meth:`save` (or any local AutoSkill store).

        Args:
            folder: The folder.
            embedding: The embeddings it was saved with (another one is refused).
            user_id, namespace, scope: Override what the saved manifest says.
            **store_options: Options of :class:`~autoskill.store.LocalSkillStore`.

        Raises:
            ConfigError: ``folder`` holds no store.
            EmbedderMismatchError: It was built with other embeddings.
        """
        path = Path(folder).expanduser()
        if not (path / STORE_MANIFEST).is_file():
            raise ConfigError(f"{path} holds no saved AutoSkill store (no {STORE_MANIFEST})")
        saved: dict[str, Any] = {}
        if (path / MANIFEST).is_file():
            saved = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        core = to_core_embedder(embedding)
        sdk = AutoSkill(AutoSkillConfig(embeddings=core, store=LocalSkillStore(path, core, **store_options)))
        return cls(
            embedding,
            sdk=sdk,
            user_id=user_id if user_id is not None else saved.get("user_id"),
            namespace=namespace or saved.get("namespace") or "default",
            scope=scope or saved.get("scope") or "all",
        )
