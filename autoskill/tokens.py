"""Token counting that works offline.

tiktoken downloads its BPE files on first use, which fails without network. llama-index-core's
wheel ships ``cl100k_base`` and ``o200k_base`` under ``llama_index/core/_static/tiktoken_cache``
(file names are the sha1 of the download URL, as in tiktoken's own cache). This module finds that
folder on disk *without importing llama_index*, verifies each file against the sha256 tiktoken
expects, and builds the :class:`tiktoken.Encoding` itself, so neither the environment
(``TIKTOKEN_CACHE_DIR``) nor tiktoken's module state is touched.

Lookup order for an encoding: one tiktoken already holds in memory, the llama-index bundled
files, tiktoken's own cache folder; otherwise an estimate (about 4 characters per token, CJK
characters about 1 token each) with a single warning naming what is missing.

Nothing is loaded at import time; encodings load on first use and are cached per name.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import math
import os
import re
import sys
import tempfile
import threading
import types
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only; tiktoken is imported lazily
    import tiktoken

__all__ = [
    "DEFAULT_ENCODING",
    "TokenCounter",
    "count_tokens",
    "estimate_tokens",
    "get_encoding",
    "truncate_to_tokens",
]

logger = logging.getLogger(__name__)

DEFAULT_ENCODING = "cl100k_base"

#: Where llama-index-core keeps its copy of tiktoken's BPE files, relative to site-packages.
_BUNDLED_CACHE_PARTS = ("llama_index", "core", "_static", "tiktoken_cache")

# A boundary cut may give back at most this share of the token-exact cut.
_BOUNDARY_SLACK = 0.2

# Kana, CJK ideographs (+ extensions and compatibility), Hangul, full-width forms: tokenizers
# spend roughly one token (often more) per such character, far more than the 4-chars rule says.
_CJK_RE = re.compile(
    "[\u3040-\u30ff\u3100-\u312f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
    "\uf900-\ufaff\uff00-\uffef\U00020000-\U0002ffff]"
)
_SENTENCE_END_RE = re.compile(r"[.!?;:](?=\s)|[。！？；]")

_lock = threading.RLock()
# name -> Encoding, or None when we settled on the estimate for that name.
_encodings: dict[str, tiktoken.Encoding | None] = {}
_warned: set[str] = set()
_MISSING = object()


class _EncodingUnavailable(Exception):
    """Internal: a BPE file is not on disk (we never download)."""


# --------------------------------------------------------------------------------------------
# Locating files
# --------------------------------------------------------------------------------------------


def _find_bundled_cache_dir() -> Path | None:
    """Return llama-index-core's bundled tiktoken cache folder, or None.

    Looks at ``sys.path`` entries and then the installed distribution's file list; never imports
    ``llama_index`` (even its namespace package), which would cost seconds.
    """
    for entry in sys.path:
        try:
            candidate = Path(entry or os.getcwd()).joinpath(*_BUNDLED_CACHE_PARTS)
            if candidate.is_dir():
                return candidate
        except (OSError, ValueError):  # unreadable or odd sys.path entries are not our problem
            continue
    try:
        from importlib import metadata

        dist = metadata.distribution("llama-index-core")
    except Exception:  # not installed, or broken metadata
        return None
    marker = "/".join(_BUNDLED_CACHE_PARTS) + "/"
    for file in dist.files or ():
        if marker in str(file).replace("\\", "/"):
            folder = Path(str(dist.locate_file(file))).parent
            if folder.is_dir():
                return folder
    return None


def _tiktoken_cache_dir() -> Path | None:
    """Return the folder tiktoken itself caches downloads in, or None when caching is off."""
    # Mirrors tiktoken.load.read_file_cached so we look exactly where tiktoken would.
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        path = os.environ["TIKTOKEN_CACHE_DIR"]
    elif "DATA_GYM_CACHE_DIR" in os.environ:
        path = os.environ["DATA_GYM_CACHE_DIR"]
    else:
        path = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    return Path(path) if path else None


def _cache_key(url: str) -> str:
    return hashlib.sha1(url.encode()).hexdigest()


def _read_local(url: str, expected_hash: str | None, folders: list[Path]) -> bytes:
    """Read the cached copy of ``url`` from the first folder that has a verified one."""
    key = _cache_key(url)
    for folder in folders:
        path = folder / key
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if expected_hash and hashlib.sha256(data).hexdigest() != expected_hash:
            logger.warning("ignoring %s: sha256 does not match %s", path, url)
            continue
        logger.debug("tiktoken file for %s read from %s", url, path)
        return data
    raise _EncodingUnavailable(url)


def _parse_tiktoken_bpe(data: bytes, source: str) -> dict[bytes, int]:
    """Parse a ``.tiktoken`` file ("base64token rank" per line), as tiktoken.load does."""
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if not line:
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
        except ValueError as exc:
            raise ValueError(f"bad line {line[:40]!r} in tiktoken file for {source}") from exc
    return ranks


# --------------------------------------------------------------------------------------------
# Building encodings
# --------------------------------------------------------------------------------------------


def _offline_copy(
    constructor: Callable[[], dict[str, Any]], folders: list[Path]
) -> Callable[[], dict[str, Any]]:
    """Return ``constructor`` rebound to globals whose BPE loaders only read local files.

    tiktoken's constructors (``tiktoken_ext.openai_public.cl100k_base`` ...) hold the pattern and
    special tokens we need, and call ``load_tiktoken_bpe(url, expected_hash=...)`` for the ranks.
    Copying the module's functions over a private globals dict swaps those loaders for ours
    without patching the shared module, so other threads using tiktoken are never affected.
    Sibling constructors are rebound too (``o200k_harmony`` calls ``o200k_base``).
    """
    module = sys.modules[constructor.__module__]

    def load_tiktoken_bpe(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        return _parse_tiktoken_bpe(_read_local(url, expected_hash, folders), url)

    def data_gym_to_mergeable_bpe_ranks(*args: Any, **kwargs: Any) -> dict[bytes, int]:
        # gpt2's two-file format: delegate to tiktoken only when both files are in tiktoken's own
        # cache with the right hashes, so its reader finds them there and never downloads.
        from tiktoken import load

        own = _tiktoken_cache_dir()
        names = ("vocab_bpe_file", "encoder_json_file", "vocab_bpe_hash", "encoder_json_hash")
        bound = dict(zip(names, args), **kwargs)
        if own is None:
            raise _EncodingUnavailable(str(bound.get("vocab_bpe_file")))
        _read_local(bound["vocab_bpe_file"], bound.get("vocab_bpe_hash"), [own])
        _read_local(bound["encoder_json_file"], bound.get("encoder_json_hash"), [own])
        return load.data_gym_to_mergeable_bpe_ranks(*args, **kwargs)

    namespace = dict(vars(module))
    namespace["load_tiktoken_bpe"] = load_tiktoken_bpe
    namespace["data_gym_to_mergeable_bpe_ranks"] = data_gym_to_mergeable_bpe_ranks
    for attr, value in vars(module).items():
        if isinstance(value, types.FunctionType) and value.__module__ == module.__name__:
            namespace[attr] = _rebind(value, namespace)
    return _rebind(constructor, namespace)  # type: ignore[arg-type]


def _rebind(func: types.FunctionType, namespace: dict[str, Any]) -> types.FunctionType:
    copy = types.FunctionType(
        func.__code__, namespace, func.__name__, func.__defaults__, func.__closure__
    )
    copy.__kwdefaults__ = func.__kwdefaults__
    return copy


def _resolve_name(name: str) -> str:
    """Map a model name (``gpt-4o``) to its encoding name; encoding names pass through."""
    import tiktoken

    if name in tiktoken.list_encoding_names():
        return name
    try:
        return tiktoken.encoding_name_for_model(name)
    except KeyError:
        raise ValueError(
            f"unknown tiktoken encoding or model {name!r}; "
            f"encodings: {', '.join(tiktoken.list_encoding_names())}"
        ) from None


def _load(name: str) -> tuple[tiktoken.Encoding | None, str]:
    """Build encoding ``name`` from local files. Returns (encoding or None, why it is missing)."""
    try:
        import tiktoken
        import tiktoken.registry
    except ImportError:
        return None, "the tiktoken package (pip install tiktoken)"

    # Someone (the user, or llama_index) already loaded it: reuse, no I/O at all.
    loaded = tiktoken.registry.ENCODINGS.get(name)
    if loaded is not None:
        return loaded, ""

    tiktoken.list_encoding_names()  # fills the constructor table from tiktoken_ext plugins
    constructor = (tiktoken.registry.ENCODING_CONSTRUCTORS or {}).get(name)
    if constructor is None or not isinstance(constructor, types.FunctionType):
        return None, f"a tiktoken constructor for {name!r}"
    folders = [p for p in (_find_bundled_cache_dir(), _tiktoken_cache_dir()) if p is not None]
    try:
        params = _offline_copy(constructor, folders)()
        return tiktoken.Encoding(**params), ""
    except _EncodingUnavailable as exc:
        where = ", ".join(str(p) for p in folders) or "no cache folder found"
        return None, f"the BPE file for {name!r} ({exc}; looked in: {where})"
    except Exception as exc:  # a changed tiktoken internals shape must not break counting
        logger.debug("building %s offline failed", name, exc_info=True)
        return None, f"a loadable {name!r} encoding ({type(exc).__name__}: {exc})"


def get_encoding(name: str = DEFAULT_ENCODING) -> tiktoken.Encoding | None:
    """Return the tiktoken encoding ``name`` loaded from local files, or None.

    Never touches the network. The first time an encoding cannot be loaded, one warning says
    what is missing and callers fall back to :func:`estimate_tokens`.

    Args:
        name: A tiktoken encoding name (``cl100k_base``, ``o200k_base``) or a model name
            (``gpt-4o``).

    Raises:
        ValueError: ``name`` is neither a known encoding nor a known model.
    """
    cached = _encodings.get(name, _MISSING)
    if cached is not _MISSING:
        return cached  # type: ignore[return-value]
    with _lock:
        if name in _encodings:
            return _encodings[name]
        try:
            resolved = _resolve_name(name)
        except ImportError:
            resolved = name
        if resolved != name and resolved in _encodings:
            encoding = _encodings[resolved]
        else:
            encoding, missing = _load(resolved)
            if encoding is None:
                _warn_once(resolved, missing)
            _encodings[resolved] = encoding
        _encodings[name] = encoding
        return encoding


def _warn_once(name: str, missing: str) -> None:
    if name in _warned:
        return
    _warned.add(name)
    message = (
        f"autoskill.tokens: token counts for {name!r} are estimates "
        f"(about 4 characters per token): missing {missing}"
    )
    logger.warning(message)
    warnings.warn(message, RuntimeWarning, stacklevel=4)


def _clear_cache() -> None:
    """Forget loaded encodings and issued warnings (for tests)."""
    with _lock:
        _encodings.clear()
        _warned.clear()


# --------------------------------------------------------------------------------------------
# Counting and truncation
# --------------------------------------------------------------------------------------------


def estimate_tokens(text: str) -> int:
    """Estimate a token count without a tokenizer.

    About 4 characters per token for alphabetic scripts, one token per CJK character.
    """
    if not text:
        return 0
    cjk = len(_CJK_RE.findall(text))
    return cjk + math.ceil((len(text) - cjk) / 4)


def count_tokens(text: str, encoding: str = DEFAULT_ENCODING) -> int:
    """Count the tokens of ``text``.

    Special-token strings such as ``<|endoftext|>`` are counted as ordinary text rather than
    rejected, because skill text is data, not a prompt template.

    Args:
        text: The text to measure.
        encoding: A tiktoken encoding or model name.

    Returns:
        The exact count when the encoding is available offline, else :func:`estimate_tokens`.
    """
    if not text:
        return 0
    enc = get_encoding(encoding)
    if enc is None:
        return estimate_tokens(text)
    return len(enc.encode_ordinary(text))


def truncate_to_tokens(text: str, max_tokens: int, encoding: str = DEFAULT_ENCODING) -> str:
    """Cut ``text`` to at most ``max_tokens`` tokens.

    The cut falls on a token boundary; when the last line break (or else the last sentence end)
    before it loses no more than about 20% of the kept text, the cut moves back to it.

    Args:
        text: The text to cut.
        max_tokens: The budget; 0 gives ``""``.
        encoding: A tiktoken encoding or model name.

    Raises:
        ValueError: ``max_tokens`` is negative.
    """
    if max_tokens < 0:
        raise ValueError(f"max_tokens must be >= 0, got {max_tokens}")
    if not text or max_tokens == 0:
        return "" if max_tokens == 0 else text
    enc = get_encoding(encoding)
    if enc is None:
        cut = _truncate_estimated(text, max_tokens)
    else:
        tokens = enc.encode_ordinary(text)
        if len(tokens) <= max_tokens:
            return text
        cut = _truncate_exact(enc, tokens, max_tokens)
    if cut == text:
        return text
    return _back_to_boundary(cut)


def _truncate_exact(enc: tiktoken.Encoding, tokens: list[int], max_tokens: int) -> str:
    n = max_tokens
    while n > 0:
        # A token may end inside a multi-byte character: drop the partial bytes, never emit U+FFFD.
        cut = enc.decode_bytes(tokens[:n]).decode("utf-8", errors="ignore")
        # Re-encoding a decoded prefix can merge differently; loop until the budget holds.
        if len(enc.encode_ordinary(cut)) <= max_tokens:
            return cut
        n -= 1
    return ""


def _truncate_estimated(text: str, max_tokens: int) -> str:
    if estimate_tokens(text) <= max_tokens:
        return text
    # The estimate grows monotonically with the prefix length: binary search the longest prefix.
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if estimate_tokens(text[:mid]) <= max_tokens:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


def _back_to_boundary(cut: str) -> str:
    floor = int(len(cut) * (1 - _BOUNDARY_SLACK))
    newline = cut.rfind("\n")
    if newline >= floor and cut[:newline].strip():
        return cut[:newline].rstrip()
    last_sentence = None
    for match in _SENTENCE_END_RE.finditer(cut):
        last_sentence = match
    if last_sentence is not None and last_sentence.end() >= floor:
        return cut[: last_sentence.end()]
    return cut


class TokenCounter:
    """A callable token counter bound to one encoding, for budgeting prompt context.

    Example:
        >>> counter = TokenCounter()
        >>> counter("hello world")
        2
        >>> counter.fits("hello world", budget=1)
        False
    """

    def __init__(self, encoding: str = DEFAULT_ENCODING) -> None:
        """Create a counter; the encoding itself loads on first use.

        Args:
            encoding: A tiktoken encoding or model name.
        """
        self.encoding = encoding

    def __call__(self, text: str) -> int:
        """Return the token count of ``text``."""
        return count_tokens(text, self.encoding)

    def __repr__(self) -> str:
        return f"TokenCounter(encoding={self.encoding!r})"

    @property
    def exact(self) -> bool:
        """True when counts come from the real tokenizer, False when they are estimates."""
        return get_encoding(self.encoding) is not None

    def fits(self, text: str, budget: int) -> bool:
        """Return True when ``text`` takes at most ``budget`` tokens."""
        return count_tokens(text, self.encoding) <= budget

    def truncate(self, text: str, max_tokens: int) -> str:
        """Cut ``text`` to at most ``max_tokens`` tokens (see :func:`truncate_to_tokens`)."""
        return truncate_to_tokens(text, max_tokens, self.encoding)
