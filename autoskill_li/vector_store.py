"""``SkillVectorStore``: a LlamaIndex ``BasePydanticVectorStore`` on AutoSkill's FAISS store.

Nodes added through it are stored faithfully as plain records (text, metadata, id,
relationships such as ``ref_doc_id``: LlamaIndex's own node serialisation) in the store's
``namespace``. A node becomes a skill only when it carries skill fields (see
:func:`autoskill_li.nodes.is_skill_node`); it is then upserted as a skill of the acting
user, never into a shared library.

Queries return the namespace's records and the skills the acting user may see (their own
plus the shared libraries), merged by cosine similarity. The acting user is, in order: the
``user_id=`` keyword of ``query`` (``index.as_retriever(vector_store_kwargs={"user_id":
...})``), the current :func:`autoskill_li.session`, the store's ``user_id``, the user a
``MetadataFilters`` requires (``user_id == "..."``), else ``"default"``. Filters always
apply on top, so a query never returns another user's private skill.

Skills are never removed by ``clear()``, ``delete(ref_doc_id)`` or a filter alone: name a
skill by id in ``delete_nodes(node_ids=[...])`` (only the acting user's own skills).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.indices.query.embedding_utils import get_top_k_mmr_embeddings
from llama_index.core.schema import BaseNode, MetadataMode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)

from autoskill._fs import atomic_write_text
from autoskill.client import AutoSkill
from autoskill.config import AutoSkillConfig
from autoskill.embeddings import Embedder, HashingEmbedder
from autoskill.errors import ConfigError
from autoskill.skill.model import STATUSES, Skill
from autoskill.store.base import Record, SkillFilter
from autoskill.store.local import MANIFEST as STORE_MANIFEST
from autoskill.store.local import LocalSkillStore
from autoskill.store.memory import InMemorySkillStore
from autoskill_li.context import current_session
from autoskill_li.embeddings import to_core_embedder
from autoskill_li.filters import MetadataPredicate, compile_filters, equality_where, named_user
from autoskill_li.nodes import (
    is_skill_node,
    node_to_record,
    node_to_skill,
    record_to_node,
    skill_metadata,
    skill_to_node,
)

__all__ = ["SkillVectorStore"]

MANIFEST = "llamaindex_vectorstore.json"
_FORMAT = "autoskill-li-vectorstore"
_DEFAULT_DIMS = 256
_HASHING_PREFIX = "hashing-v1:"


class _Match(NamedTuple):
    node_id: str
    score: float
    is_skill: bool
    record: Record | None
    skill: Skill | None


def _standalone(embedder: Embedder, store: Any = None) -> AutoSkill:
    return AutoSkill(AutoSkillConfig(embeddings=embedder, store=store or InMemorySkillStore(embedder)))


def _embedder_from_identity(identity: str) -> Embedder:
    """Rebuild the hashing embedder a manifest names (other models must be passed in)."""
    dims = identity[len(_HASHING_PREFIX):]
    if identity.startswith(_HASHING_PREFIX) and dims.isdigit():
        return HashingEmbedder(int(dims))
    raise ConfigError(f"the store was built with embedder {identity!r}; pass embed_model=<that model> to open it")


class SkillVectorStore(BasePydanticVectorStore):
    """A LlamaIndex vector store over AutoSkill's FAISS store (records plus skills).

    ``SkillVectorStore()`` needs no arguments: an in-memory store whose vectors are taken
    to be :class:`~autoskill_li.HashingEmbedding` vectors, sized by the first embeddings
    it receives (256 when it must embed text itself). Pass ``embed_model=`` (the model the
    index embeds with) or ``dims=`` to say so up front, or ``sdk=`` to share an AutoSkill's
    store, skills and embedder.

    Args:
        sdk: An :class:`~autoskill.AutoSkill` whose store and embedder to use.
        user_id: The user this store acts for (see the module docstring for the order).
        namespace: The record namespace (one per logical collection).
        scope: Which skills queries see: ``"all"``, ``"user"`` or ``"library"``.
        dims: Vector size for a standalone store with the hashing embedder.
        embed_model: A LlamaIndex embedding model for a standalone store (with ``sdk``, it
            may only be the sdk's own embedder).

    Raises:
        ConfigError: An ``embed_model`` or ``dims`` that contradicts the sdk's embedder; both
            ``embed_model`` and ``dims``; a bad ``scope`` or ``namespace``.
    """

    stores_text: bool = True
    is_embedding_query: bool = True
    user_id: str | None = None
    namespace: str = "default"
    scope: str = "all"

    _sdk: AutoSkill | None = PrivateAttr(default=None)
    _init_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(
        self,
        sdk: AutoSkill | None = None,
        *,
        user_id: str | None = None,
        namespace: str = "default",
        scope: str = "all",
        dims: int | None = None,
        embed_model: Any = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(namespace, str) or not namespace:
            raise ConfigError(f"namespace must be a non-empty string, got {namespace!r}")
        super().__init__(user_id=user_id, namespace=namespace, scope=SkillFilter(scope=scope).scope, **kwargs)
        if embed_model is not None and dims is not None:
            raise ConfigError("pass embed_model= or dims=, not both (the model decides the size)")
        if sdk is not None:
            self._check_sdk(sdk, embed_model, dims)
            self._sdk = sdk
        elif embed_model is not None:
            self._sdk = _standalone(to_core_embedder(embed_model))
        elif dims is not None:
            self._sdk = _standalone(HashingEmbedder(dims))

    @staticmethod
    def _check_sdk(sdk: AutoSkill, embed_model: Any, dims: int | None) -> None:
        if dims is not None and dims != sdk.embedder.dims:
            raise ConfigError(f"dims={dims} but the sdk's embedder makes {sdk.embedder.dims}-dimensional vectors")
        if embed_model is None:
            return
        same = embed_model is sdk.embedder or getattr(sdk.embedder, "wrapped", None) is embed_model
        if not same and to_core_embedder(embed_model).identity != sdk.embedder.identity:
            raise ConfigError(
                "SkillVectorStore(sdk=...) uses the sdk's embedder; the embed_model passed differs "
                f"({type(embed_model).__name__} vs {sdk.embedder.identity!r}). Omit embed_model=, or "
                "configure the sdk with it"
            )

    @classmethod
    def class_name(cls) -> str:
        return "SkillVectorStore"

    # -- plumbing -----------------------------------------------------------------------------

    def _ensure(self, dims: int | None = None) -> AutoSkill:
        with self._init_lock:
            if self._sdk is None:
                self._sdk = _standalone(HashingEmbedder(dims or _DEFAULT_DIMS))
            return self._sdk

    @property
    def sdk(self) -> AutoSkill:
        """The AutoSkill behind the store (created on first use for a no-argument store)."""
        return self._ensure()

    @property
    def client(self) -> Any:
        """The core skill store (records and skills)."""
        return self.sdk.store

    def _owner(self, user_id: str | None = None, filters: MetadataFilters | None = None) -> str:
        explicit = user_id or current_session().user_id or self.user_id
        return explicit or named_user(filters) or "default"

    def _skill_filter(self, owner: str) -> SkillFilter:
        return SkillFilter(user_id=owner, scope=self.scope)

    # -- writing ------------------------------------------------------------------------------

    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Add or replace nodes by id; returns their ids (a skill node's id is its skill id).

        Nodes should carry embeddings (LlamaIndex indexes and pipelines embed them); a node
        without one is embedded with the store's embedder.

        Args:
            nodes: The nodes.
            **add_kwargs: ``user_id=`` to add skill nodes for another user.
        """
        nodes = list(nodes)
        if not nodes:
            return []
        first = next((n.embedding for n in nodes if n.embedding is not None), None)
        sdk = self._ensure(len(first) if first is not None else None)
        out: list[str] = [node.node_id for node in nodes]
        plain = [(i, n) for i, n in enumerate(nodes) if not is_skill_node(n)]
        skills = [(i, n) for i, n in enumerate(nodes) if is_skill_node(n)]
        if plain:
            records = [node_to_record(n, self.namespace) for _, n in plain]
            sdk.store.upsert_records(records, self._vectors([n for _, n in plain]))
        if skills:
            stored = self._upsert_skills([n for _, n in skills], self._owner(add_kwargs.get("user_id")))
            for (position, _), skill in zip(skills, stored):
                out[position] = skill.id
        return out

    def _vectors(self, nodes: Sequence[BaseNode]) -> np.ndarray:
        """The nodes' own embeddings; the missing ones embedded as LlamaIndex would."""
        missing = [i for i, n in enumerate(nodes) if n.embedding is None]
        embedded = self.sdk.embedder.embed_documents(
            [nodes[i].get_content(metadata_mode=MetadataMode.EMBED) for i in missing]) if missing else None
        rows: list[Any] = [n.embedding for n in nodes]
        for position, i in enumerate(missing):
            rows[i] = embedded[position]  # type: ignore[index]
        return np.asarray(rows, dtype=np.float32)

    def _upsert_skills(self, nodes: Sequence[BaseNode], owner: str) -> list[Skill]:
        store = self.sdk.store
        built: list[Skill] = []
        for node in nodes:
            wanted = str(node.metadata.get("skill_id") or node.node_id)
            existing = store.get(wanted)
            if existing is not None and not (existing.scope == "user" and existing.user_id == owner):
                # Another user's or a library's skill: store this user's own copy instead.
                wanted, existing = "", None
            skill = node_to_skill(node, user_id=owner, skill_id=wanted, existing=existing)
            if existing is None:
                prior = store.get_by_name(skill.name, scope="user", owner=owner)
                if prior is not None and prior.id != skill.id:  # same name: update that skill
                    skill = node_to_skill(node, user_id=owner, skill_id=prior.id, existing=prior)
            built.append(skill)
        vectors = None
        if all(n.embedding is not None for n in nodes):
            vectors = np.asarray([n.embedding for n in nodes], dtype=np.float32)
        return store.upsert_many(built, vectors, reason="added through the LlamaIndex SkillVectorStore")

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete the records whose source document is ``ref_doc_id`` (skills are kept)."""
        if self._sdk is None:
            return
        ids = [r.id for r in self._sdk.store.list_records(namespace=self.namespace)
               if r.metadata.get("ref_doc_id") == ref_doc_id]
        if ids:
            self._sdk.store.delete_records(ids, namespace=self.namespace)

    def delete_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None,
                     **delete_kwargs: Any) -> None:
        """Delete records by id and/or filter, and the acting user's own skills named by id.

        With neither argument every record of the namespace goes (as ``SimpleVectorStore``
        does); skills go only when ``node_ids`` names them (and ``filters`` admits them).
        """
        if self._sdk is None:
            return
        store = self._sdk.store
        admits = compile_filters(filters)
        candidates = (store.get_records(node_ids, namespace=self.namespace) if node_ids is not None
                      else store.list_records(namespace=self.namespace))
        doomed = [r.id for r in candidates if admits is None or admits(r.metadata)]
        if doomed:
            store.delete_records(doomed, namespace=self.namespace)
        owner = self._owner(delete_kwargs.get("user_id"), filters)
        for skill_id in node_ids or ():
            skill = store.get(skill_id)
            if (skill is not None and skill.scope == "user" and skill.user_id == owner
                    and (admits is None or admits(skill_metadata(skill)))):
                store.delete(skill_id)

    def clear(self) -> None:
        """Delete every record of the namespace (skills are kept: they are a library, not an index)."""
        if self._sdk is not None:
            self._sdk.store.delete_records(None, namespace=self.namespace)

    # -- reading ------------------------------------------------------------------------------

    def get_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None) -> list[BaseNode]:
        """Records of the namespace and skills the acting user may see, by id and/or filter.

        Without ``node_ids``: every record, then every visible skill, that ``filters`` admits.
        """
        if self._sdk is None:
            return []
        store = self._sdk.store
        admits = compile_filters(filters)
        visible = self._skill_filter(self._owner(None, filters))
        if node_ids is not None:
            wanted = list(dict.fromkeys(node_ids))
            records = {r.id: r for r in store.get_records(wanted, namespace=self.namespace)}
            skills = [s for s in (store.get(i) for i in wanted if i not in records) if s is not None]
        else:
            records = {r.id: r for r in store.list_records(namespace=self.namespace)}
            skills = store.list(visible)
        out: list[BaseNode] = [record_to_node(r) for r in records.values() if admits is None or admits(r.metadata)]
        out += [skill_to_node(s) for s in skills
                if visible.admits(s) and (admits is None or admits(skill_metadata(s)))]
        return out

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Records and visible skills nearest to the query, with cosine similarities.

        Honours ``similarity_top_k``, ``filters`` (any operator, nested), ``node_ids`` (empty
        or None: no restriction), ``doc_ids`` (records of those source documents) and the
        ``default`` and ``mmr`` modes.

        Args:
            query: The query (``query_embedding``, or ``query_str`` to embed here).
            **kwargs: ``user_id=`` to act for that user; ``mmr_threshold=`` for MMR.

        Raises:
            ValueError: Another query mode.
        """
        if query.mode not in (VectorStoreQueryMode.DEFAULT, VectorStoreQueryMode.MMR):
            raise ValueError(f"SkillVectorStore supports the default and mmr query modes, not {query.mode}")
        if self._sdk is None or query.similarity_top_k <= 0:
            return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
        vector = self._query_vector(query)
        mmr = query.mode == VectorStoreQueryMode.MMR
        k = query.similarity_top_k
        matches = self._matches(vector, max(k * 4, 20) if mmr else k, query, kwargs.get("user_id"))
        if mmr and matches:
            matches = self._mmr(vector, matches, k, kwargs.get("mmr_threshold", query.mmr_threshold))
        nodes = [skill_to_node(m.skill) if m.skill is not None else record_to_node(m.record)  # type: ignore[arg-type]
                 for m in matches]
        return VectorStoreQueryResult(nodes=nodes, similarities=[m.score for m in matches],
                                      ids=[m.node_id for m in matches])

    def _query_vector(self, query: VectorStoreQuery) -> np.ndarray:
        if query.query_embedding is not None:
            return np.asarray(query.query_embedding, dtype=np.float32)
        if query.query_str is None:
            raise ValueError("VectorStoreQuery needs query_embedding or query_str")
        return self.sdk.embedder.embed_query(query.query_str)

    def _matches(self, vector: np.ndarray, k: int, query: VectorStoreQuery, user_id: str | None) -> list[_Match]:
        admits = compile_filters(query.filters)
        doc_ids = set(query.doc_ids) if query.doc_ids else None
        owner = self._owner(user_id, query.filters)
        if query.node_ids:
            found = self._score_ids(vector, query.node_ids, admits, doc_ids, owner)
        else:
            found = self._record_matches(vector, k, query.filters, admits, doc_ids)
            if doc_ids is None:  # skills have no source document
                found += self._skill_matches(vector, k, admits, owner, query.filters)
        found.sort(key=lambda m: -m.score)
        return found[:k]

    def _record_matches(self, vector: np.ndarray, k: int, filters: MetadataFilters | None,
                        admits: MetadataPredicate | None, doc_ids: set[str] | None) -> list[_Match]:
        where: Any = equality_where(filters) if doc_ids is None else None
        if where is None:
            def where(record: Record) -> bool:
                if doc_ids is not None and record.metadata.get("ref_doc_id") not in doc_ids:
                    return False
                return admits is None or admits(record.metadata)
        hits = self.sdk.store.search_records(vector, k, namespace=self.namespace, where=where or None)
        return [_Match(r.id, score, False, r, None) for r, score in hits]

    def _skill_matches(self, vector: np.ndarray, k: int, admits: MetadataPredicate | None, owner: str,
                       filters: MetadataFilters | None) -> list[_Match]:
        wanted_user = named_user(filters)
        if wanted_user is not None and wanted_user != owner:
            return []  # only the owner's skills carry a user_id, and they carry the owner's
        visible = self._skill_filter(owner)
        fetch = k if admits is None else max(k * 4, 32)
        while True:
            hits = self.sdk.store.search(vector, fetch, visible)
            out = [_Match(h.skill.id, h.similarity, True, None, h.skill) for h in hits
                   if admits is None or admits(skill_metadata(h.skill))]
            if len(out) >= k or len(hits) < fetch:
                return out[:k]
            fetch *= 4

    def _score_ids(self, vector: np.ndarray, node_ids: Sequence[str], admits: MetadataPredicate | None,
                   doc_ids: set[str] | None, owner: str) -> list[_Match]:
        """Exact scores of the named nodes (an explicit id list is small)."""
        store = self.sdk.store
        query = vector / (np.linalg.norm(vector) or 1.0)
        wanted = list(dict.fromkeys(node_ids))
        out: list[_Match] = []
        for record in store.get_records(wanted, namespace=self.namespace):
            if doc_ids is not None and record.metadata.get("ref_doc_id") not in doc_ids:
                continue
            stored = store.record_vector(record.id, namespace=self.namespace)
            if stored is not None and (admits is None or admits(record.metadata)):
                out.append(_Match(record.id, float(stored @ query), False, record, None))
        if doc_ids is None:
            visible = self._skill_filter(owner)
            for skill in (store.get(i) for i in wanted):
                if skill is None or not visible.admits(skill):
                    continue
                stored = store.vector(skill.id)
                if stored is not None and (admits is None or admits(skill_metadata(skill))):
                    out.append(_Match(skill.id, float(stored @ query), True, None, skill))
        return out

    def _mmr(self, vector: np.ndarray, matches: list[_Match], k: int, threshold: float | None) -> list[_Match]:
        store = self.sdk.store
        vectors = [store.vector(m.node_id) if m.is_skill else store.record_vector(m.node_id, namespace=self.namespace)
                   for m in matches]
        _, chosen = get_top_k_mmr_embeddings(
            vector.tolist(), [v.tolist() for v in vectors], similarity_top_k=k,
            embedding_ids=list(range(len(matches))), mmr_threshold=threshold)
        # MMR decides the order; the reported score stays the (absolute) cosine similarity.
        return [matches[i] for i in chosen]

    # -- async twins (same logic in a worker thread; context variables follow) ----------------

    async def async_add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        """Async :meth:`add`."""
        return await asyncio.to_thread(self.add, nodes, **kwargs)

    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Async :meth:`delete`."""
        await asyncio.to_thread(self.delete, ref_doc_id, **delete_kwargs)

    async def adelete_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None,
                            **delete_kwargs: Any) -> None:
        """Async :meth:`delete_nodes`."""
        await asyncio.to_thread(self.delete_nodes, node_ids, filters, **delete_kwargs)

    async def aget_nodes(self, node_ids: list[str] | None = None,
                         filters: MetadataFilters | None = None) -> list[BaseNode]:
        """Async :meth:`get_nodes`."""
        return await asyncio.to_thread(self.get_nodes, node_ids, filters)

    async def aclear(self) -> None:
        """Async :meth:`clear`."""
        await asyncio.to_thread(self.clear)

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Async :meth:`query`."""
        return await asyncio.to_thread(self.query, query, **kwargs)

    # -- persistence --------------------------------------------------------------------------

    @staticmethod
    def _locations(persist_path: str | os.PathLike[str]) -> tuple[Path, Path]:
        """``(manifest file, store folder)`` for a path: a folder, or a ``*.json`` file whose
        store folder sits beside it (``default__vector_store.json`` ->
        ``default__vector_store.autoskill/``)."""
        path = Path(persist_path).expanduser()
        if path.suffix.lower() == ".json" and not path.is_dir():
            return path, path.with_suffix(".autoskill")
        return path / MANIFEST, path

    def persist(self, persist_path: str, fs: Any = None) -> None:
        """Write the namespace's records and the skills it serves as a local AutoSkill store.

        ``persist_path`` is a folder, or a file path such as the
        ``<dir>/default__vector_store.json`` that ``StorageContext.persist`` passes: a small
        JSON manifest is written there and the store folder beside it. The store folder is
        an ordinary local store (SQLite ledger, SKILL.md tree, JSON manifest; no pickle) with
        the exact vectors, so a reloaded store answers queries identically. Over an sdk whose
        local store already lives there, only the manifest is written.

        Raises:
            ConfigError: ``fs`` is not the local file system.
        """
        if fs is not None and "file" not in getattr(fs, "protocol", ("file",)):
            raise ConfigError("SkillVectorStore persists to the local file system only")
        manifest_path, folder = self._locations(persist_path)
        sdk = self.sdk
        root = getattr(sdk.store, "root", None)
        if root is None or Path(root).resolve() != folder.resolve():
            destination = LocalSkillStore(folder, sdk.embedder, check_files=False)
            try:
                self._copy_into(destination)
            finally:
                destination.close()
        manifest = {"format": _FORMAT, "version": 1, "store": os.path.relpath(folder, manifest_path.parent),
                    "namespace": self.namespace, "user_id": self.user_id, "scope": self.scope,
                    "embedder": sdk.embedder.identity, "dims": sdk.embedder.dims}
        manifest_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(manifest_path, json.dumps(manifest, indent=2))

    def _copy_into(self, destination: LocalSkillStore) -> None:
        store = self.sdk.store
        records = store.list_records(namespace=self.namespace)
        destination.delete_records(None, namespace=self.namespace)
        if records:
            vectors = np.vstack([store.record_vector(r.id, namespace=self.namespace) for r in records])
            destination.upsert_records(records, vectors)
        # A store with a fixed user serves that user's skills and the libraries; one without
        # serves whichever user a query names, so it keeps every user's.
        flt = SkillFilter(user_id=self.user_id, scope=self.scope, statuses=STATUSES, all_users=self.user_id is None)
        skills = store.list(flt)
        if skills:
            vectors = np.vstack([store.vector(s.id) for s in skills])
            destination.upsert_many(skills, vectors, reason="persisted from the LlamaIndex SkillVectorStore",
                                    allow_library=True)

    @classmethod
    def from_persist_path(cls, persist_path: str, fs: Any = None, *, embed_model: Any = None,
                          user_id: str | None = None, namespace: str | None = None, scope: str | None = None,
                          **store_options: Any) -> SkillVectorStore:
        """Open a store written by :meth:`persist` (or any local AutoSkill store folder).

        Args:
            persist_path: The manifest file or store folder :meth:`persist` was given.
            fs: Only the local file system is supported.
            embed_model: The model the store was built with; needed unless it was the
                hashing embedder, which the manifest names.
            user_id, namespace, scope: Override what the manifest says.
            **store_options: Options of :class:`~autoskill.store.LocalSkillStore`.

        Raises:
            ConfigError: No store there, or its embedder cannot be rebuilt without ``embed_model``.
            EmbedderMismatchError: ``embed_model`` is not the one it was built with.
        """
        if fs is not None and "file" not in getattr(fs, "protocol", ("file",)):
            raise ConfigError("SkillVectorStore persists to the local file system only")
        manifest_path, folder = cls._locations(persist_path)
        saved: dict[str, Any] = {}
        if manifest_path.is_file():
            saved = json.loads(manifest_path.read_text(encoding="utf-8"))
            folder = (manifest_path.parent / saved.get("store", folder)).resolve()
        if not (folder / STORE_MANIFEST).is_file():
            raise ConfigError(f"{persist_path} holds no persisted SkillVectorStore or AutoSkill store")
        if embed_model is not None:
            embedder = to_core_embedder(embed_model)
        else:
            identity = saved.get("embedder") or json.loads((folder / STORE_MANIFEST).read_text("utf-8"))["embedder"]
            embedder = _embedder_from_identity(str(identity))
        sdk = _standalone(embedder, LocalSkillStore(folder, embedder, **store_options))
        return cls(sdk, user_id=user_id if user_id is not None else saved.get("user_id"),
                   namespace=namespace or saved.get("namespace") or "default",
                   scope=scope or saved.get("scope") or "all")

    @classmethod
    def from_persist_dir(cls, persist_dir: str = "./storage", namespace: str = "default",
                         **kwargs: Any) -> SkillVectorStore:
        """Open what ``StorageContext.persist(persist_dir)`` wrote for the vector store named
        ``namespace`` there (``<persist_dir>/<namespace>__vector_store.json``, LlamaIndex's
        naming); ``kwargs`` go to :meth:`from_persist_path`."""
        return cls.from_persist_path(str(Path(persist_dir) / f"{namespace}__vector_store.json"), **kwargs)

