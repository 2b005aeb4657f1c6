"""JSON-LD for credentials: bundled contexts, strict safe-mode RDFC-1.0 canonicalisation, the credential hash.

Every context is read from ``services/core/contexts`` (``index.json`` maps URL → file);
nothing is ever fetched from the network. ``canonicalize`` runs pyld's RDFC-1.0
(``URDNA2015``) in *safe mode* (docs/verifier.md): anything JSON-LD expansion would silently
drop — a term no context defines, an undefined type, a relative IRI — raises
:class:`UnsafeDocumentError`, because a signature cannot protect what the canonical
form does not contain. pyld has no safe mode, so :class:`_SafeProcessor` hooks its
expansion to report what jsonld.js (``safe: true``) would report.

*Strict compact form*: the signature covers the RDF graph, but people and programs read
the JSON keys. So a document is accepted only as the compact form of its graph under its
contexts: every key a term the contexts define (``id`` and ``type`` the only keyword
aliases), or a plain name their ``@vocab`` expands; no JSON-LD keyword but the top-level
``@context``; no IRI or prefix:suffix key; no blank-node identifier; no type spelled as the
IRI of a defined term. Otherwise ``{"@index": "Mallory", "@set": "Ada"}`` would sign as
"Ada" and display as "Mallory" (docs/signing.md lists the rules).

*Hostile input is cheap*: :func:`check_size` bounds the JSON before any JSON-LD work
(values, array items, nesting), :class:`_SafeProcessor` bounds types per node and keeps
pyld's duplicate check from being quadratic, and :class:`_BudgetedRDFC` stops RDFC-1.0
with :class:`CanonicalizationBudgetError` once symmetric blank nodes have cost
:data:`RDFC_WORK_BUDGET` steps (pyld has no work limit; a clique of 8 blank nodes took
over a minute).

Speed (docs/signing.md, "Speed"): context processing is nearly all of pyld's cost. The loader tags its
documents ``static`` so pyld's resolved-context cache keeps them, and
:meth:`_SafeProcessor._process_context` memoises processed contexts, which pyld's own
cache misses for every type-scoped context. A document in the shape of a credential then
takes the fast path of ``compactrdf.py`` — straight from the JSON to RDFC-1.0, contexts still
processed by pyld, output identical — and everything else (every refusal included) this
module's full pyld path. docs/signing.md has the measurements.
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
from pyld.canon import URDNA2015, permutations
from pyld.context_resolver import ContextResolver
from pyld.identifier_issuer import IdentifierIssuer

from services.core import compactrdf

CONTEXTS_PACKAGE = "services.core.contexts"
# What jsonld.js calls an absolute IRI (a scheme, or "_" for a blank node) — pyld agrees.
_ABSOLUTE_IRI = re.compile(r"^([A-Za-z][A-Za-z0-9+\-.]*|_):[^\s]*$")

# Limits on what canonicalize accepts (docs/signing.md, "Limits"). Canonicalisation costs
# about 10-18 µs per JSON value, so the costliest accepted document is set by how many values
# it may hold: at 600 it takes about ten times a typical credential (~70 values; a rich one
# ~100-150), measured by bench/hostile.py.
MAX_VALUES = 600  # every JSON value counts once: objects, arrays, strings, numbers, booleans, nulls
MAX_ARRAY_ITEMS = 64  # items in one array
MAX_NESTING = 32  # objects and arrays within one another
MAX_TYPES = 16  # distinct types of one node, all its objects together
# Steps RDFC-1.0's Hash N-Degree Quads may take (a call: 1 + 4 per quad of the node; a
# permutation tried: 1 + the identifiers issued so far) before canonicalisation gives up.
# A credential spends none — its blank nodes differ at first degree —, 64 identical objects
# 1,000-1,700, a clique of 4 blank nodes 4,200, of 7 millions. 2,000 steps take ≈ 1-2 ms.
RDFC_WORK_BUDGET = 2_000
# The keyword aliases a credential may use: everything else must be a term or a @vocab name.
_ALIASES = {"id": "@id", "type": "@type"}
_KEYWORDS = frozenset(pyld.KEYWORDS)


class JsonLdDocumentError(ValueError):
    """The document cannot be canonicalised; the message says why."""


class UnknownContextError(JsonLdDocumentError):
    """The document names a context that is not bundled (contexts are never fetched)."""

    def __init__(self, url: str) -> None:
        super().__init__(f"unknown JSON-LD context {url!r}: only bundled contexts are accepted")
        self.url = url


class UnsafeDocumentError(JsonLdDocumentError):
    """Expansion would drop or leave relative part of the document (safe mode, docs/verifier.md),
    or the document is not the compact form of its graph (what is shown is what was signed)."""


class DocumentTooLargeError(JsonLdDocumentError):
    """The document exceeds a size limit (values, array items, nesting, types) checked before
    any expensive work."""


class CanonicalizationBudgetError(JsonLdDocumentError):
    """RDFC-1.0 would need more than :data:`RDFC_WORK_BUDGET` steps: the document's blank
    nodes are too alike to put in order cheaply (crafted input; no credential needs it)."""


def check_size(document: Any, *, max_values: int = MAX_VALUES, max_items: int = MAX_ARRAY_ITEMS,
               max_depth: int = MAX_NESTING, max_string: int | None = None) -> None:
    """Raise :class:`DocumentTooLargeError` if ``document`` is bigger than the limits.

    Every JSON value counts once (objects, arrays, and every scalar in them, keys excepted);
    depth counts from 0 for ``document`` itself. Iterative, and it stops at the first limit
    crossed, so a hostile document costs no more than the limit to reject.
    """
    count = 0
    stack: list[tuple[Any, int, Any]] = [(document, 0, None)]
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        value, depth, key = pop()
        count += 1
        if count > max_values:
            raise _too_many(max_values)
        if depth > max_depth:
            raise DocumentTooLargeError(f"the document nests objects and arrays more than {max_depth} deep")
        if isinstance(value, dict):
            if count + len(value) > max_values:
                raise _too_many(max_values)
            for name, item in value.items():
                push((item, depth + 1, name))
        elif isinstance(value, list):
            if count + len(value) > max_values:
                raise _too_many(max_values)
            if len(value) > max_items:
                where = f"{key!r}" if isinstance(key, str) else "an array"
                raise DocumentTooLargeError(
                    f"{where} has {len(value):,} items; at most {max_items} are accepted in one array")
            extend((item, depth + 1, key) for item in value)
        elif max_string is not None and isinstance(value, str) and len(value) > max_string:
            raise DocumentTooLargeError(f"a text value is longer than {max_string:,} characters")


def _too_many(max_values: int) -> DocumentTooLargeError:
    return DocumentTooLargeError(
        f"the document has more than {max_values:,} JSON values (objects, arrays and the values in them)")


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
        self.compact_terms: LRUCache = _LockedLRU(maxsize=1000)  # context _uuid -> keys it accepts as they are
        # the fast path's plans per processed context (compactrdf.py)
        self.compiled = compactrdf.Compiler()

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
    """pyld's processor, raising :class:`UnsafeDocumentError` where jsonld.js ``safe`` would,
    and wherever the JSON is not the compact form of its graph.

    It keeps the path of compact property names down to the object being expanded, so
    messages say where the problem is (``credentialSubject.achievement``). Safe-mode checks:
    a dropped key, a node ``@type`` or ``@id`` (or an IRI-typed value) that stays relative,
    a blank-node property, an object that expands to nothing. Compact-form checks
    (:meth:`_expand_object`): a JSON-LD keyword used as a key, a nested ``@context``, an IRI
    or prefix:suffix key, a keyword alias other than ``id``/``type``, a blank-node id, a type
    written as the IRI of a defined term.
    """

    def __init__(self, processed_contexts: LRUCache, compact_terms: LRUCache | None = None) -> None:
        super().__init__(on_property_dropped=self._dropped)
        self._path: list[tuple[str | None, bool]] = []
        self._processed = processed_contexts
        self._compact_terms = compact_terms if compact_terms is not None else LRUCache(maxsize=100)
        self._inverse: dict[int, tuple[dict, dict[str, str]]] = {}  # id(mappings) -> (mappings, IRI -> term)
        self._types: dict[str, set[str]] = {}  # node IRI -> the types of all its objects
        self._ids: set[str] = set()  # node IRIs seen
        self._values: dict[tuple[int, str], list] = {}  # (id(subject), property) -> [list, indexed, keys]

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
            if "@context" in element and len(self._path) > 1:
                self._path.pop()
                raise self._unsafe("a @context is accepted only at the top of the document (a nested one could "
                                   "redefine what the keys below it mean)", None if in_array else active_property)
        else:
            return super()._expand(active_ctx, active_property, element, options, *args, **kwargs)
        try:
            expanded = super()._expand(active_ctx, active_property, element, options, *args, **kwargs)
            if isinstance(element, dict):
                self._check_node(element, expanded)
            return expanded
        finally:
            self._path.pop()

    def _expand_object(self, active_ctx, active_property, expanded_active_property, element, expanded_parent,
                       options, inside_list=False, type_key=None, type_scoped_ctx=None):  # type: ignore[no-untyped-def]
        # Strict compact form: check every key against the final active context (type-scoped
        # contexts included) before pyld expands it. A key is accepted if it is the top-level
        # @context, a term the contexts define (keyword aliases: only id and type), or a plain
        # name, which either expands through @vocab or is dropped (and _dropped refuses it).
        mappings = active_ctx["mappings"]
        accepted = self._accepted_keys(active_ctx)
        for key in element:
            if key in accepted:
                continue
            if key.startswith("@"):
                if key in _KEYWORDS and not (key == "@context" and len(self._path) == 1):
                    raise self._unsafe(f"the JSON-LD keyword {key!r} is not accepted: a credential must be the "
                                       "compact form of what is signed, written with its contexts' terms")
                continue  # "@context" at the top; a keyword-like key is dropped, and _dropped says so
            definition = mappings.get(key)
            if definition is None:
                if ":" in key and key not in mappings:
                    if key.startswith("_:"):
                        raise self._unsafe(f"property {key!r} is a blank node")
                    term = self._term_for(active_ctx, self._expand_iri(active_ctx, key, vocab=True))
                    hint = f" (the term for it is {term!r})" if term else ""
                    raise self._unsafe(f"key {key!r} is an IRI, not a term defined by the document's contexts{hint}")
                continue
            iri = definition.get("@id")
            if iri in _KEYWORDS and _ALIASES.get(key) != iri:
                raise self._unsafe(f"term {key!r} stands for the keyword {iri}: only 'id' and 'type' may stand "
                                   "for keywords")
        if type_key is not None:
            types = element.get(type_key)
            for type_ in types if isinstance(types, list) else (types,):
                if isinstance(type_, str) and ":" in type_:
                    self._check_type_value(type_, type_scoped_ctx or active_ctx)
        return super()._expand_object(active_ctx, active_property, expanded_active_property, element,
                                      expanded_parent, options, inside_list, type_key, type_scoped_ctx)

    def _accepted_keys(self, ctx: Any) -> frozenset[str]:
        """The keys ``ctx`` accepts as they are: its terms, less those defined as null or as a
        keyword other than id → @id and type → @type. Cached per context (frozen ones by their
        _uuid, across documents; pyld never changes a frozen context)."""
        frozen = isinstance(ctx, frozendict)
        key = ctx["_uuid"] if frozen else ("object", id(ctx["mappings"]))
        hit = self._compact_terms.get(key)
        if hit is not None and (frozen or hit[0] is ctx["mappings"]):
            return hit[1]
        accepted = frozenset(
            term for term, definition in ctx["mappings"].items()
            if definition and not term.startswith("@")
            and (definition.get("@id") not in _KEYWORDS or _ALIASES.get(term) == definition.get("@id")))
        self._compact_terms[key] = (ctx["mappings"], accepted)
        return accepted

    def _check_type_value(self, type_: str, ctx: Any) -> None:
        if type_ in ctx["mappings"]:
            return  # a term that happens to contain a colon
        if type_.startswith("_:"):
            raise self._unsafe(f"type {type_!r} names a blank node")
        iri = self._expand_iri(ctx, type_, vocab=True)
        term = self._term_for(ctx, iri)
        if iri != type_:
            raise self._unsafe(f"type {type_!r} is a compact IRI; write "
                               + (f"the term {term!r}" if term else f"the IRI {iri!r}"))
        if term:
            raise self._unsafe(f"type {type_!r} is written as an IRI; write the term {term!r}")

    def _term_for(self, ctx: Any, iri: Any) -> str | None:
        """The term of ``ctx`` that stands for ``iri``, if any (only on the way to an error or a
        colon in a type, so a small per-document cache is enough)."""
        mappings = ctx["mappings"]
        hit = self._inverse.get(id(mappings))
        if hit is None or hit[0] is not mappings:
            inverse: dict[str, str] = {}
            for term, definition in mappings.items():
                target = definition.get("@id") if definition else None
                if isinstance(target, str) and not term.startswith("@"):
                    inverse.setdefault(target, term)
            hit = self._inverse[id(mappings)] = (mappings, inverse)
        return hit[1].get(iri) if isinstance(iri, str) else None

    def _check_node(self, element: dict, expanded: Any) -> None:
        if expanded is None:
            if element:
                raise self._unsafe("the object is dropped by expansion (e.g. a null @value)")
            return
        if not isinstance(expanded, dict) or "@value" in expanded:
            return  # pyld itself rejects a value object with a relative @type
        node_id = expanded.get("@id")
        if isinstance(node_id, str):
            if node_id.startswith("_:"):
                raise self._unsafe(f"id {node_id!r} names a blank node: an object without an IRI is written "
                                   "once, where it is used, and without an id")
            if not _ABSOLUTE_IRI.match(node_id):
                raise self._unsafe(f"id {node_id!r} is a relative IRI")
        types = expanded.get("@type", ())
        for type_ in types:
            if isinstance(type_, str) and not _ABSOLUTE_IRI.match(type_):
                raise self._unsafe(f"type {type_!r} is not defined by the document's contexts")
        if types:
            # pyld merges a node's types with a duplicate check per type: quadratic in the distinct
            # types, so bound them (over all the objects that share one IRI: they merge).
            seen = self._types.setdefault(node_id, set()) if isinstance(node_id, str) else set()
            seen.update(type_ for type_ in types if isinstance(type_, str))
            if len(seen) > MAX_TYPES or len(types) > MAX_TYPES:
                raise DocumentTooLargeError(f"{self._where()}: a node has more than {MAX_TYPES} types")
        for key, values in expanded.items():
            if key.startswith("_:"):
                raise self._unsafe(f"property {key!r} is a blank node")
            if type(values) is list and len(values) > _SHORT_LIST:
                self._create_node_map = self._fast_create_node_map  # type: ignore[method-assign]
        if isinstance(node_id, str):
            if node_id in self._ids:
                self._create_node_map = self._fast_create_node_map  # type: ignore[method-assign]
            self._ids.add(node_id)

    def _expand_iri(self, active_ctx, value, base=None, vocab=False, local_ctx=None, defined=None):  # type: ignore[no-untyped-def]
        # The commonest call by far — a term looked up in the active context outside context
        # processing — answered without pyld's keyword scan and regular expression; exactly
        # what pyld returns for it (the term's IRI, or None for a term defined as null).
        if vocab and local_ctx is None and type(value) is str and value and value[0] != "@":
            mapping = active_ctx["mappings"].get(value, _MISSING)
            if mapping is not _MISSING:
                return None if mapping is None else mapping["@id"]
        return super()._expand_iri(active_ctx, value, base, vocab, local_ctx, defined)

    def _expand_value(self, active_ctx, active_property, value, options):  # type: ignore[no-untyped-def]
        expanded = super()._expand_value(active_ctx, active_property, value, options)
        if isinstance(expanded, dict):
            iri = expanded.get("@id")
            if isinstance(iri, str):
                if iri.startswith("_:"):
                    raise self._unsafe(f"{iri!r} names a blank node", active_property)
                if not _ABSOLUTE_IRI.match(iri):
                    raise self._unsafe(f"{iri!r} is a relative IRI", active_property)
        return expanded

    def _fast_create_node_map(self, input_, graph_map, active_graph, issuer, active_subject=None,
                              active_property=None, list_=None):  # type: ignore[no-untyped-def]
        # pyld adds each value of a property with a duplicate check that compares it with every
        # value already there: n values cost n²/2 comparisons (6,000 tags, 18 million: 11 s).
        # Values and node references are added here instead, through an index of what each
        # list holds; the result is exactly pyld's (same entries, same order, same duplicates
        # dropped — compare_values' notion of equal). Anything unusual goes to pyld as before.
        # Installed by _check_node only for documents that could need it (a long list, or an
        # IRI in several objects, whose lists merge): for the others pyld's own is cheaper.
        create = pyld.JsonLdProcessor._create_node_map
        if (list_ is None and isinstance(active_subject, str) and isinstance(active_property, str)
                and not active_property.startswith("@") and type(input_) is dict):
            subject = graph_map.setdefault(active_graph, {}).get(active_subject)
            if "@value" in input_:
                key = _value_key(input_)
                if key is not None and (not subject or self._add_unique(subject, active_property, input_, key)):
                    return None
            elif "@list" not in input_ and "@set" not in input_ and _plain_types(input_.get("@type")):
                node_id = input_.get("@id")
                if node_id is None:
                    # a fresh blank node: pyld issues it the next identifier (no blank-node type
                    # issues one first), which cannot be a duplicate of anything
                    if not subject or self._append(subject, active_property,
                                                   {"@id": issuer.prefix + str(issuer.counter)}):
                        return create(self, input_, graph_map, active_graph, issuer)
                elif isinstance(node_id, str) and not node_id.startswith("_:"):
                    if not subject or self._add_unique(subject, active_property, {"@id": node_id}, ("@id", node_id)):
                        return create(self, input_, graph_map, active_graph, issuer)
        return create(self, input_, graph_map, active_graph, issuer, active_subject, active_property, list_)

    @staticmethod
    def _append(subject: dict, prop: str, entry: dict) -> bool:
        values = subject.get(prop)
        if values is None:
            subject[prop] = [entry]
        elif type(values) is list:
            values.append(entry)
        else:
            return False
        return True

    def _add_unique(self, subject: dict, prop: str, entry: dict, key: Any) -> bool:
        """Add ``entry`` unless an equal one is there; False if pyld must do it (no usable index)."""
        values = subject.get(prop)
        if values is None:
            values = subject[prop] = [entry]
            self._values[(id(subject), prop)] = [values, 1, {key}]
            return True
        if type(values) is not list:
            return False
        slot = self._values.get((id(subject), prop))
        if slot is None or slot[0] is not values:
            slot = self._values[(id(subject), prop)] = [values, 0, set()]
        keys = slot[2]
        if keys is None:
            return False
        if slot[1] < len(values):  # entries added elsewhere (pyld, or a fresh blank node)
            for existing in values[slot[1]:]:
                existing_key = _entry_key(existing)
                if existing_key is _NEVER_EQUAL:
                    continue
                if existing_key is None:
                    slot[2] = None
                    return False
                keys.add(existing_key)
            slot[1] = len(values)
        if key not in keys:
            values.append(entry)
            keys.add(key)
            slot[1] += 1
        return True


_NEVER_EQUAL = object()
_MISSING = object()
_QUAD_STEPS = compactrdf.QUAD_STEPS  # (defined there: its shortcut charges the same)
# Lists up to this long are left to pyld's quadratic duplicate check (≤ 28 comparisons each).
_SHORT_LIST = 8


def _value_key(value: dict) -> Any:
    """A hashable key equal for two value objects exactly when pyld's compare_values says they
    are equal (same @value — booleans apart from numbers —, @type, @language and @index; it
    ignores @direction), or None if there is none (then pyld compares them itself)."""
    if "@id" in value:
        return None
    literal = value["@value"]
    kind = type(literal)
    if kind is str:
        key: tuple = ("s", literal)
    elif kind is bool:
        key = ("b", literal)
    elif (kind is int or kind is float) and literal == literal:  # not NaN
        key = ("n", literal)
    else:
        return None
    meta = (value.get("@type"), value.get("@language"), value.get("@index"))
    if any(part is not None and type(part) is not str for part in meta) or (meta[0] or "").startswith("_:"):
        return None  # (a blank-node datatype, which pyld would relabel, cannot pass expansion anyway)
    return key, meta


def _entry_key(entry: Any) -> Any:
    """The key of a value already in a node-map list: as :func:`_value_key`, ``("@id", id)`` for
    a node reference, :data:`_NEVER_EQUAL` for what compare_values never finds equal to a value
    or a reference (lists, other objects), None when unsure."""
    if type(entry) is not dict:
        return _NEVER_EQUAL
    if "@value" in entry:
        return _value_key(entry)
    node_id = entry.get("@id")
    if node_id is None:
        return _NEVER_EQUAL
    return ("@id", node_id) if isinstance(node_id, str) else None


def _plain_types(types: Any) -> bool:
    """No type names a blank node (pyld would issue it an identifier first)."""
    return types is None or (type(types) is list and all(type(t) is str and not t.startswith("_:") for t in types))


class _MeteredIssuer(IdentifierIssuer):
    """A blank-node identifier issuer whose copies are charged to a work budget.

    Hash N-Degree Quads copies its issuer once for every permutation of related blank nodes
    it tries, so counting copies counts permutations. The copy is a plain one (the state is
    strings), and cheaper than the deepcopy pyld would make.
    """

    def __init__(self, source: IdentifierIssuer, spend: Any) -> None:  # noqa: D107 - no super(): state copied
        self.prefix = source.prefix
        self.counter = source.counter
        self.existing = dict(source.existing)
        self.order = list(source.order)
        self._spend = spend

    def __deepcopy__(self, memo: Any) -> _MeteredIssuer:
        self._spend(1 + len(self.order))
        return _MeteredIssuer(self, self._spend)


class _BudgetedRDFC(URDNA2015):
    """pyld's RDFC-1.0 (URDNA2015), refusing with :class:`CanonicalizationBudgetError` once
    Hash N-Degree Quads has spent ``budget`` steps: a call costs 1 plus the node's quads, a
    permutation tried costs 1 plus the identifiers issued so far. Output is pyld's, unchanged.
    """

    def __init__(self, budget: int = RDFC_WORK_BUDGET) -> None:
        super().__init__()
        self.budget = budget
        self.left = budget

    def _spend(self, steps: int) -> None:
        self.left -= steps
        if self.left < 0:
            raise CanonicalizationBudgetError(
                "the document's unnamed objects are too alike to put in canonical order cheaply "
                f"(RDFC-1.0 work budget of {self.budget:,} steps exceeded)")

    def modify_first_degree_component(self, id_, component, key):  # type: ignore[no-untyped-def]
        # pyld deep-copies the component (two strings) for every blank node of every quad
        if component["type"] != "blank node":
            return component
        return {**component, "value": "_:a" if component["value"] == id_ else "_:z"}

    def hash_n_degree_quads(self, id_, issuer):  # type: ignore[no-untyped-def]
        # pyld's Hash N-Degree Quads (RDFC-1.0 §4.8) step for step, but with the identifier
        # issuer copied directly (copy.deepcopy's machinery was half the cost of a call) and the
        # same budget charged: 1 + 4 per quad for the call, 1 + identifiers issued per copy.
        self._spend(1 + _QUAD_STEPS * len(self.blank_node_info[id_]["quads"]))
        if not isinstance(issuer, _MeteredIssuer):
            issuer = _MeteredIssuer(issuer, self._spend)
        canonical = self.canonical_issuer
        md = hashlib.sha256()
        for hash_, blank_nodes in sorted(self.create_hash_to_related(id_, issuer).items()):
            md.update(hash_.encode("utf8"))
            chosen_path = ""
            chosen_issuer = None
            for permutation in permutations(blank_nodes):  # pyld's order: it decides what is pruned
                issuer_copy = issuer.__deepcopy__(None)
                path = ""
                recursion_list = []
                skip = False
                for related in permutation:
                    if canonical.has_id(related):
                        path += canonical.get_id(related)
                    else:
                        if not issuer_copy.has_id(related):
                            recursion_list.append(related)
                        path += issuer_copy.get_id(related)
                    if chosen_path and len(path) >= len(chosen_path) and path > chosen_path:
                        skip = True
                        break
                if skip:
                    continue
                for related in recursion_list:
                    result = self.hash_n_degree_quads(related, issuer_copy)
                    path += issuer_copy.get_id(related)
                    path += "<" + result["hash"] + ">"
                    issuer_copy = result["issuer"]
                    if chosen_path and len(path) >= len(chosen_path) and path > chosen_path:
                        skip = True
                        break
                if skip:
                    continue
                if not chosen_path or path < chosen_path:
                    chosen_path = path
                    chosen_issuer = issuer_copy
            md.update(chosen_path.encode("utf8"))
            issuer = chosen_issuer
        return {"hash": md.hexdigest(), "issuer": issuer}


@functools.cache
def default_loader() -> StaticDocumentLoader:
    """The process-wide loader over the bundled contexts (its caches are what make repeats fast)."""
    return StaticDocumentLoader()


def canonicalize(document: Mapping[str, Any], loader: StaticDocumentLoader | None = None, *,
                 fast: bool = True, size_checked: bool = False) -> str:
    """RDFC-1.0 canonical N-Quads of ``document``, in strict safe mode, within the limits.

    Raises :class:`UnsafeDocumentError` (something would not be signed, or the JSON is not
    the compact form of its graph), :class:`UnknownContextError`,
    :class:`DocumentTooLargeError`, :class:`CanonicalizationBudgetError`, or
    :class:`JsonLdDocumentError` for any other reason the input is not usable JSON-LD —
    never anything else, whatever the input.

    A document in the shape credentials have goes through the fast path (compactrdf.py),
    which writes exactly what the full pyld path writes; anything else, and every refusal,
    goes through the full path. ``fast=False`` forces the full path (tests and bench compare
    the two). ``size_checked``: the caller has already held ``document`` (or a document it is
    part of) to limits no looser than :func:`check_size`'s defaults, as
    ``credential.check_shape`` does; the walk is not done twice.
    """
    loader = loader or default_loader()
    options = {
        "algorithm": "URDNA2015",
        "documentLoader": loader,
        "contextResolver": loader.resolver(),
        # No base: a relative IRI must stay relative so safe mode sees it (pyld would
        # otherwise resolve it against http://example.org/base/).
        "base": None,
        # what pyld's normalize() passes to to_rdf; it is called directly so that the
        # canonicalisation step is ours (_BudgetedRDFC)
        "produceGeneralizedRdf": False,
        "extractAllScripts": True,
        "processingMode": "json-ld-1.1",
    }
    try:
        if not size_checked:
            check_size(document)
        processor = _SafeProcessor(loader.processed_contexts, loader.compact_terms)
        if fast and type(document) is dict:
            options["isFrame"] = False
            quads = compactrdf.quads(document, processor, loader.compiled, options,
                                     processor._get_initial_context(options), MAX_TYPES)
            if quads is not None:
                # (alike blank nodes: pyld's Hash N-Degree Quads, under the work budget)
                return compactrdf.canonical_nquads(quads, _BudgetedRDFC())
            options.pop("isFrame")
        dataset = processor.to_rdf(document, options)
        return _BudgetedRDFC().main(dataset, _NQUADS)
    except JsonLdDocumentError:
        raise
    except pyld.JsonLdError as error:
        raise _unwrap(error) from error
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as error:
        # pyld lets these escape on some malformed input; to callers it is just invalid JSON-LD
        raise JsonLdDocumentError(f"invalid JSON-LD: {error}") from error


def canonicalize_nquads(nquads: str, budget: int = RDFC_WORK_BUDGET) -> str:
    """RDFC-1.0 canonical form of an RDF dataset given as N-Quads, under the same work budget."""
    try:
        dataset = pyld.JsonLdProcessor.parse_nquads(nquads)
        return _BudgetedRDFC(budget).main(dataset, _NQUADS)
    except JsonLdDocumentError:
        raise
    except (pyld.JsonLdError, ValueError, TypeError, KeyError) as error:
        raise JsonLdDocumentError(f"invalid N-Quads: {error}") from error


_NQUADS = {"format": "application/n-quads"}


def credential_hash(credential: Mapping[str, Any], loader: StaticDocumentLoader | None = None, *,
                    size_checked: bool = False) -> bytes:
    """SHA-256 of the canonical N-Quads of ``credential`` without ``proof`` (docs/issuer.md, "The
    credential"); ``size_checked`` as for :func:`canonicalize`."""
    unsigned = {key: value for key, value in credential.items() if key != "proof"}
    return hashlib.sha256(canonicalize(unsigned, loader, size_checked=size_checked).encode("utf-8")).digest()


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
