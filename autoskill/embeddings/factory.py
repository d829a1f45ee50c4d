"""Build an :class:`Embedder` from a config section or a live framework object.

Importing this module registers the built-in embeddings providers (``hashing``,
``minilm``, ``openai``, ``glm``) with :mod:`autoskill.providers.registry`, the same way a
third-party package registers its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from autoskill.embeddings.adapters import LangChainEmbedder, LlamaIndexEmbedder
from autoskill.embeddings.base import BaseEmbedder, Embedder
from autoskill.embeddings.hashing import HashingEmbedder
from autoskill.embeddings.minilm import MiniLMEmbedder
from autoskill.errors import ConfigError, MissingDependencyError
from autoskill.providers.registry import create_provider, register_provider

__all__ = ["create_embedder"]

logger = logging.getLogger(__name__)

GLM_BASE_URL = "https://open.bigmodel.cn/api/paas/v4/"
GLM_API_KEY_ENV = "ZHIPUAI_API_KEY"

# Known output sizes, so that no network call is needed just to learn the dimensions.
_OPENAI_DIMS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
_GLM_DIMS = {"embedding-3": 2048, "embedding-2": 1024}


def _is_llamaindex_embedding(obj: Any) -> bool:
    # Look at module names in the MRO rather than importing llama_index (slow) to isinstance.
    for cls in type(obj).__mro__:
        if cls.__module__.startswith("llama_index") and cls.__name__ == "BaseEmbedding":
            return True
    return callable(getattr(obj, "get_text_embedding_batch", None)) and callable(
        getattr(obj, "get_query_embedding", None)
    )


def _is_langchain_embeddings(obj: Any) -> bool:
    return callable(getattr(obj, "embed_documents", None)) and callable(
        getattr(obj, "embed_query", None)
    )


def create_embedder(spec: Any) -> Embedder:
    """Return an :class:`Embedder` for ``spec``.

    Args:
        spec: An :class:`Embedder` (returned as is); a config section such as
            ``{"provider": "hashing", "dims": 256}`` (or just the provider name);
            a LangChain ``Embeddings`` object; or a LlamaIndex ``BaseEmbedding`` object.

    Raises:
        ConfigError: ``spec`` is none of these, or the config is invalid.
        ProviderNotFoundError: Unknown provider name.
        MissingDependencyError: The provider needs a package that is not installed.
    """
    if isinstance(spec, BaseEmbedder):
        return spec
    if isinstance(spec, str):
        spec = {"provider": spec}
    if isinstance(spec, Mapping):
        embedder = create_provider("embeddings", spec)
        if not isinstance(embedder, Embedder):
            raise ConfigError(
                f"embeddings provider {spec.get('provider')!r} returned "
                f"{type(embedder).__name__}, which is not an Embedder"
            )
        return embedder
    # Framework objects are checked before the structural Embedder test: a LangChain
    # object also has embed_documents/embed_query but returns plain lists.
    if _is_llamaindex_embedding(spec):
        return LlamaIndexEmbedder(spec)
    if isinstance(spec, Embedder):
        return spec
    if _is_langchain_embeddings(spec):
        return LangChainEmbedder(spec)
    raise ConfigError(
        f"cannot build an embedder from {type(spec).__name__}; pass a dict like "
        "{'provider': 'hashing', 'dims': 256}, an Embedder, a LangChain Embeddings "
        "or a LlamaIndex BaseEmbedding"
    )


def _import_openai_embeddings(feature: str) -> Any:
    try:
        from langchain_openai import OpenAIEmbeddings
    except ImportError as exc:
        raise MissingDependencyError("langchain-openai", feature, extra="openai") from exc
    return OpenAIEmbeddings


def _openai_provider(
    model: str = "text-embedding-3-small",
    api_key: str | None = None,
    base_url: str | None = None,
    dimensions: int | None = None,
    **options: Any,
) -> Embedder:
    """``{"provider": "openai", "model": ..., "api_key": ..., "base_url": ...}``.

    Extra options go to ``langchain_openai.OpenAIEmbeddings``.
    """
    OpenAIEmbeddings = _import_openai_embeddings("the openai embeddings provider")
    key = api_key or os.environ.get("OPENAI_API_KEY")
    if not key and base_url is None:
        raise ConfigError(
            "the openai embeddings provider needs an API key: pass api_key or set OPENAI_API_KEY"
        )
    kwargs: dict[str, Any] = {"model": model, **options}
    if key:
        kwargs["api_key"] = key
    if base_url is not None:
        kwargs["base_url"] = base_url
    if dimensions is not None:
        kwargs["dimensions"] = dimensions
    dims = dimensions or _OPENAI_DIMS.get(model)
    client = OpenAIEmbeddings(**kwargs)
    identity = f"openai:{model}:{dims}" if dims else None
    return LangChainEmbedder(client, dims=dims, identity=identity)


def bigmodel_jwt(api_key: str, ttl_seconds: int = 86_400) -> str:
    """A BigModel (Zhipu) JWT from an ``"<id>.<secret>"`` API key (HS256, stdlib only).

    Raises:
        ConfigError: The key is not of the form ``id.secret``.
    """
    key_id, sep, secret = api_key.partition(".")
    if not sep or not key_id or not secret:
        raise ConfigError("a BigModel API key for jwt auth must look like '<id>.<secret>'")

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    now_ms = int(time.time() * 1000)
    header = {"alg": "HS256", "sign_type": "SIGN"}
    payload = {"api_key": key_id, "exp": now_ms + ttl_seconds * 1000, "timestamp": now_ms}
    signing_input = (
        b64(json.dumps(header, separators=(",", ":")).encode())
        + b"."
        + b64(json.dumps(payload, separators=(",", ":")).encode())
    )
    signature = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + b64(signature)).decode()


def _glm_provider(
    model: str = "embedding-3",
    api_key: str | None = None,
    base_url: str = GLM_BASE_URL,
    dimensions: int | None = None,
    auth_mode: str = "auto",
    jwt_ttl_seconds: int = 86_400,
    **options: Any,
) -> Embedder:
    """``{"provider": "glm", "model": "embedding-3", "api_key": ..., "auth_mode": "auto"}``.

    BigModel speaks the OpenAI embeddings API, so this goes through
    ``langchain_openai.OpenAIEmbeddings`` with BigModel's ``base_url``. ``auth_mode``
    ``"auto"``/``"api_key"`` sends the key as is; ``"jwt"`` sends a signed token valid for
    ``jwt_ttl_seconds`` (it is not refreshed: recreate the embedder for long-lived use).
    """
    OpenAIEmbeddings = _import_openai_embeddings("the glm embeddings provider")
    key = api_key or os.environ.get(GLM_API_KEY_ENV)
    if not key:
        raise ConfigError(
            f"the glm embeddings provider needs an API key: pass api_key or set {GLM_API_KEY_ENV}"
        )
    if auth_mode not in ("auto", "api_key", "jwt"):
        raise ConfigError(f"glm auth_mode must be 'auto', 'api_key' or 'jwt', got {auth_mode!r}")
    token = bigmodel_jwt(key, jwt_ttl_seconds) if auth_mode == "jwt" else key
    kwargs: dict[str, Any] = {
        "model": model,
        "api_key": token,
        "base_url": base_url,
        # BigModel does not use OpenAI's tokenizer, and tiktoken would download its tables:
        # send the raw strings. BigModel also caps a request at 64 inputs.
        "check_embedding_ctx_length": False,
        "chunk_size": 64,
        **options,
    }
    if dimensions is not None:
        kwargs["dimensions"] = dimensions
    dims = dimensions or _GLM_DIMS.get(model)
    client = OpenAIEmbeddings(**kwargs)
    identity = f"glm:{model}:{dims}" if dims else None
    return LangChainEmbedder(client, dims=dims, identity=identity)


register_provider("embeddings", "hashing", HashingEmbedder)
register_provider("embeddings", "minilm", MiniLMEmbedder)
register_provider("embeddings", "openai", _openai_provider)
register_provider("embeddings", "glm", _glm_provider)
