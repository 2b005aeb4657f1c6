"""JSON-LD for credentials: bundled contexts, safe-mode RDFC-1.0 canonicalisation, the credential hash.

Every context is read from ``services/core/contexts`` (``index.json`` maps URL → file);
nothing is ever fetched from the network. ``canonicalize`` runs pyld's RDFC-1.0
(``URDNA2015``) in *safe mode* (DESIGN §5): anything JSON-LD expansion would silently
drop — a term no context defines, an undefined type, a relative IRI — raises
:class:`UnsafeDocumentError`, because a signature cannot protect what the canonical
form does not contain. pyld has no safe mode, so :class:`_SafeProcessor` hooks its
expansion to report what jsonld.js (``safe: true``) would report.

Speed (DESIGN §9): context processing is nearly all of pyld's cost. The loader tags its
documents ``static`` so pyld's resolved-context cache keeps them, and
:meth:`_SafeProcessor._process_context` memoises processed contexts, which pyld's own
cache misses for every type-scoped context. docs/signing.md has the measurements.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import re
import threading
from collections.abc import Mapping
from importlib import resources
from typing import Any

from cachetools import LRUCache
from frozendict import frozendict
from pyld import jsonld as pyld
from pyld.context_resolver import ContextResolver

CONTEXTS_PACKAGE = "services.core.contexts"
# What jsonld.js calls an absolute IRI (a scheme, or "_" for a blank node) — pyld agrees.
_ABSOLUTE_IRI = re.compile(r"^([A-Za-z][A-Za-z0-9+\-.]*|_):[^\s]*$")


class JsonLdDocumentError(ValueError):
    """The document cannot be canonicalised; the message says why."""


class UnknownContextError(JsonLdDocumentError):
    """The document names a context that is not bundled (contexts are never fetched)."""

    def __init__(self, url: str) -> None:
        super().__init__(f"unknown JSON-LD context {url!r}: only bundled contexts are accepted")
        self.url = url


class UnsafeDocumentError(JsonLdDocumentError):
    """Expansion would drop or leave relative part of the document (safe mode, DESIGN §5)."""


def bundled_contexts() -> dict[str, Any]:
    """The bundled context documents by URL, parsed fresh from ``contexts/index.json``."""
    folder = resources.files(CONTEXTS_PACKAGE)
    index: dict[str, str] = json.loads(folder.joinpath("index.json").read_text("utf-8"))
    return {url: json.loads(folder.joinpath(name).read_text("utf-8")) for url, name in index.items()}


class _LockedLRU(LRUCache):
    """An LRU cache that threads can share (cachetools' is not thread-safe)."""

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize=maxsize)
        self._lock = threading.RLock()

    def __getitem__(self, key: Any) -> Any:
        with self._lock:
            return super().__getitem__(key)

    def __setitem__(self, key: Any, value: Any) -> None:
        with self._lock:
            super().__setitem__(key, value)

    def get(self, key: Any, default: Any = None) -> Any:
        with self._lock:
            return super().get(key, default)


class StaticDocumentLoader:
    """A pyld document loader over fixed documents; it owns the pyld context cache for them.

    ``extra`` adds documents (tests use it for contexts the product does not bundle). The
    cache lives here rather than in pyld's module-wide one so that documents added to one
    loader can never leak into another.
    """

    def __init__(self, extra: Mapping[str, Any] | None = None) -> None:
        self._documents: dict[str, Any] = {**bundled_contexts(), **(extra or {})}
        self.context_cache: LRUCache = _LockedLRU(maxsize=100)
        self.processed_contexts: LRUCache = _LockedLRU(maxsize=1000)

    def __contains__(self, url: str) -> bool:
        return url in self._documents

    def __call__(self, url: str, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        try:
            document = self._documents[url]
        except KeyError:
            raise UnknownContextError(url) from None
        # pyld may write into what it loads; "static" lets it cache the processed result.
        return {"contextUrl": None, "documentUrl": url, "document": copy.deepcopy(document), "tag": "static"}

    def resolver(self) -> ContextResolver:
        """A context resolver for one pyld operation, sharing this loader's cache."""
        return ContextResolver(self.context_cache, self)


class _SafeProcessor(pyld.JsonLdProcessor):
    """pyld's processor, raising :class:`UnsafeDocumentError` where jsonld.js ``safe`` would.

    It keeps the path of compact property names down to the object being expanded, so
    messages say where the problem is (``credentialSubject.achievement``). Checks:
    a dropped key, a node ``@type`` or ``@id`` (or an IRI-typed value) that stays relative,
    a blank-node property, an object that expands to nothing.
    """

    def __init__(self, processed_contexts: LRUCache) -> None:
        super().__init__(on_property_dropped=self._dropped)
        self._path: list[tuple[str | None, bool]] = []
        self._processed = processed_contexts

    def _process_context(self, active_ctx, local_ctx, options, override_protected=False, propagate=True,
                         validate_scoped=True, cycles=None):  # type: ignore[no-untyped-def]
        # pyld caches a processed context per (active context, context document), but a
        # type-scoped context (propagate=False) is applied to a fresh clone with a fresh
        # _uuid, so that cache never hits and every Achievement, Profile, … re-processes
        # its context. Memoise the whole step instead; it is a pure function of its inputs
        # once the active context is frozen (pyld freezes every context it returns).
        if not isinstance(active_ctx, frozendict):
            return super()._process_context(active_ctx, local_ctx, options, override_protected,
                                            propagate, validate_scoped, cycles)
        key = (active_ctx["_uuid"], _context_key(local_ctx), override_protected, propagate)
        hit = self._processed.get(key)
        if hit is not None and (not isinstance(local_ctx, Mapping) or hit[0] is local_ctx):
            return hit[1]
        processed = super()._process_context(active_ctx, local_ctx, options, override_protected,
                                             propagate, validate_scoped, cycles)
        self._processed[key] = (local_ctx, processed)
        return processed

    def _where(self, last: str | None = None) -> str:
        names = [name for name, _ in self._path if name] + ([last] if last else [])
        return ".".join(names) or "the top-level object"

    def _unsafe(self, problem: str, last: str | None = None) -> UnsafeDocumentError:
        return UnsafeDocumentError(f"{self._where(last)}: {problem}")

    def _dropped(self, expanded_property: str | None) -> None:
        if expanded_property is None:
            raise self._unsafe("a property expands to nothing (a keyword-like key, or a term defined as null)")
        raise self._unsafe(f"property {expanded_property!r} is not defined by the document's contexts")

    def _expand(self, active_ctx, active_property, element, options, *args, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(element, list):
            self._path.append((active_property, True))
        elif isinstance(element, dict):
            # an object inside an array is already named by the array's frame
            in_array = bool(self._path) and self._path[-1] == (active_property, True)
            self._path.append((None if in_array else active_property, False))
        else:
            return super()._expand(active_ctx, active_property, element, options, *args, **kwargs)
        try:
            expanded = super()._expand(active_ctx, active_property, element, options, *args, **kwargs)
            if isinstance(element, dict):
                self._check_node(element, expanded)
            return expanded
        finally:
            self._path.pop()

    def _check_node(self, element: dict, expanded: Any) -> None:
        if expanded is None:
            if element:
                raise self._unsafe("the object is dropped by expansion (e.g. a null @value)")
            return
        if not isinstance(expanded, dict) or "@value" in expanded:
            return  # pyld itself rejects a value object with a relative @type
        node_id = expanded.get("@id")
        if isinstance(node_id, str) and not _ABSOLUTE_IRI.match(node_id):
            raise self._unsafe(f"id {node_id!r} is a relative IRI")
        for type_ in expanded.get("@type", ()):
            if isinstance(type_, str) and not _ABSOLUTE_IRI.match(type_):
                raise self._unsafe(f"type {type_!r} is not defined by the document's contexts")
        for key in expanded:
            if key.startswith("_:"):
                raise self._unsafe(f"property {key!r} is a blank node")

    def _expand_value(self, active_ctx, active_property, value, options):  # type: ignore[no-untyped-def]
        expanded = super()._expand_value(active_ctx, active_property, value, options)
        if isinstance(expanded, dict):
            iri = expanded.get("@id")
            if isinstance(iri, str) and not _ABSOLUTE_IRI.match(iri):
                raise self._unsafe(f"{iri!r} is a relative IRI", active_property)
        return expanded


@functools.cache
def default_loader() -> StaticDocumentLoader:
    """The process-wide loader over the bundled contexts (its caches are what make repeats fast)."""
    return StaticDocumentLoader()


def canonicalize(document: Mapping[str, Any], loader: StaticDocumentLoader | None = None) -> str:
    """RDFC-1.0 canonical N-Quads of ``document``, in safe mode.

    Raises :class:`UnsafeDocumentError`, :class:`UnknownContextError`, or
    :class:`JsonLdDocumentError` for any other reason the input is not usable JSON-LD —
    never anything else, whatever the input.
    """
    loader = loader or default_loader()
    options = {
        "algorithm": "URDNA2015",
        "format": "application/n-quads",
        "documentLoader": loader,
        "contextResolver": loader.resolver(),
        # No base: a relative IRI must stay relative so safe mode sees it (pyld would
        # otherwise resolve it against http://example.org/base/).
        "base": None,
    }
    try:
        return _SafeProcessor(loader.processed_contexts).normalize(document, options)
    except JsonLdDocumentError:
        raise
    except pyld.JsonLdError as error:
        raise _unwrap(error) from error
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as error:
        # pyld lets these escape on some malformed input; to callers it is just invalid JSON-LD
        raise JsonLdDocumentError(f"invalid JSON-LD: {error}") from error


def credential_hash(credential: Mapping[str, Any], loader: StaticDocumentLoader | None = None) -> bytes:
    """SHA-256 of the canonical N-Quads of ``credential`` without ``proof`` (DESIGN §3)."""
    unsigned = {key: value for key, value in credential.items() if key != "proof"}
    return hashlib.sha256(canonicalize(unsigned, loader).encode("utf-8")).digest()


def _context_key(local_ctx: Any) -> Any:
    """A hashable key for a local context: URLs by value, inline objects by identity.

    Inline objects are term definitions inside cached contexts, so the same object comes
    back each time; the cache entry keeps it alive, so its ``id`` cannot be reused.
    """
    if isinstance(local_ctx, str):
        return local_ctx
    if isinstance(local_ctx, list) and all(isinstance(item, str) for item in local_ctx):
        return tuple(local_ctx)
    return ("object", id(local_ctx))


def _unwrap(error: BaseException) -> JsonLdDocumentError:
    """Our own error if pyld wrapped one (it wraps loader failures), else a plain one."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, JsonLdDocumentError):
            return cause
        cause = cause.__cause__
    innermost = error
    while isinstance(innermost.__cause__, pyld.JsonLdError):
        innermost = innermost.__cause__
    return JsonLdDocumentError(f"invalid JSON-LD: {innermost}")
