"""The fast path of canonicalisation: strict compact-form JSON-LD straight to canonical N-Quads.

pyld's expansion and node map are general and slow (≈ 85 % of a credential's canonicalisation,
docs/signing.md "Speed"). A document that passes the strict compact form (docs/signing.md) is
a narrow kind of JSON-LD: every key a term of its active context, ``id`` and ``type`` the only
keyword aliases, no blank-node identifiers, no nested ``@context``. For that kind this module
walks the JSON once and writes the RDF quads directly, following pyld's expansion algorithm
step for step for what it accepts: every context is still processed by pyld itself (the
processor's memoised ``_process_context``, type-scoped and property-scoped contexts in pyld's
order and with its revert rule), and each value is converted exactly as pyld's
``_expand_value`` and ``_object_to_rdf`` do.

It **declines** (returns None) whatever it was not written for, and the caller then runs the
full pyld path with its safe-mode and compact-form checks, which accepts or refuses with the
exact message: any key that is not an accepted term, a term with a container other than
``@set``, a language, a reverse or ``@json`` definition, a type written as the IRI of a term
or not absolute, an id or IRI value that is not a plain absolute IRI, a blank-node id,
``null``, a nested array, a float, an integer pyld would write as a double, more than
``MAX_TYPES`` types on a node, a context that is not a bundled URL, and any error pyld
raises while processing a context. So it never accepts what the full path refuses, and what
it accepts it writes as pyld would (objects with one IRI merge, each value once per node and
property, by pyld's notion of equal): ``tests/unit/test_fast_canonicalization.py`` compares
both, and stock pyld, on generated credentials and on every rewriting the other tests use.

RDFC-1.0 (:func:`canonical_nquads`): its main loop runs here on the quads' N-Quads terms
(first-degree hashes, labels for the blank nodes whose hash is their own, the output).
Blank nodes alike at first degree — none in a credential — go to pyld's Hash N-Degree Quads
in ``jsonld._BudgetedRDFC``, so the work budget bounds hostile input exactly as before.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from pyld import jsonld as pyld
from pyld.identifier_issuer import IdentifierIssuer

# pyld's own test for an absolute IRI, and the one jsonld.js uses (safe mode checks both)
_PYLD_ABSOLUTE = pyld._is_absolute_iri  # noqa: SLF001 - the same test pyld applies
_ABSOLUTE_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+\-.]*:[^\s]*$")
_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
_XSD_BOOLEAN = "http://www.w3.org/2001/XMLSchema#boolean"
_XSD_INTEGER = "http://www.w3.org/2001/XMLSchema#integer"
_XSD_DOUBLE = "http://www.w3.org/2001/XMLSchema#double"
_RDF_TYPE = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
_RDF_TYPE_IRI = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
# integers pyld writes as xsd:integer (from 1e21 on it writes doubles; keep well inside)
_MAX_INT = 10**15

# term kinds
_ID, _TYPE, _NODE, _IRI, _VOCAB, _TYPED, _PLAIN = range(7)


class Declined(Exception):
    """The document is outside what the fast path was written for: use the full path."""


def _escape(value: str) -> str:
    # pyld's N-Quads escaping (pyld.nquads.escape), which its canonical output uses
    return (value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r").replace('"', '\\"'))


def _iri_value(value: Any, ctx: Any) -> str:
    """A string pyld's _expand_iri (no vocab, no base) returns unchanged as an absolute IRI."""
    if type(value) is not str:
        raise Declined
    colon = value.find(":")
    if colon <= 0:
        raise Declined  # relative (safe mode refuses it) or a term-looking value
    prefix = value[:colon]
    if prefix == "_":
        raise Declined  # a blank node (refused)
    if not value.startswith("//", colon + 1):
        mapping = ctx["mappings"].get(prefix)
        if mapping and mapping["_prefix"]:
            raise Declined  # a compact IRI pyld would expand
    if not _PYLD_ABSOLUTE(value) or not _ABSOLUTE_IRI.match(value):
        raise Declined
    return value


def _vocab_value(value: Any, ctx: Any) -> str:
    """pyld's _expand_iri with vocab for a term or an absolute IRI; anything else declines."""
    if type(value) is not str or not value or value[0] == "@":
        raise Declined
    mapping = ctx["mappings"].get(value, False)
    if mapping is not False:
        if mapping is None:
            raise Declined
        iri = mapping["@id"]
        if type(iri) is not str or iri.startswith("_:") or not _PYLD_ABSOLUTE(iri) or not _ABSOLUTE_IRI.match(iri):
            raise Declined
        return iri
    return _iri_value(value, ctx)


class _Bounded(dict):
    """A dict that empties itself when full: the caches below hold a few entries per credential
    template and are read on every object, so a plain dict (its get and set are atomic under
    the GIL, so threads may share it) beats a locked LRU."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: Any, value: Any) -> None:
        if len(self) >= self.limit:
            self.clear()
        super().__setitem__(key, value)


class Compiler:
    """Plans per processed context, shared across documents (contexts are frozen and keyed by
    their ``_uuid``, as the processor's own memo is). One instance per loader."""

    def __init__(self, limit: int = 2000) -> None:
        self._children: dict = _Bounded(limit)  # (parent uuid, term, element shape) -> (parent, active, type-scoped)
        self._plans: dict = _Bounded(limit)  # ctx uuid -> (ctx, {term: plan}); ("iris", uuid) -> (ctx, term IRIs)

    def term_iris(self, ctx: Any) -> frozenset[str]:
        """The IRIs the terms of ``ctx`` stand for (a type must be written as its term)."""
        key = ("iris", ctx["_uuid"])
        hit = self._plans.get(key)
        if hit is not None and hit[0] is ctx:
            return hit[1]
        iris = frozenset(definition["@id"] for term, definition in ctx["mappings"].items()
                         if definition and type(definition.get("@id")) is str and not term.startswith("@"))
        self._plans[key] = (ctx, iris)
        return iris

    def plan(self, ctx: Any) -> dict[str, tuple]:
        """How each accepted term of ``ctx`` is written, or absent if the fast path declines it."""
        uuid = ctx["_uuid"]
        hit = self._plans.get(uuid)
        if hit is not None and hit[0] is ctx:
            return hit[1]
        plans: dict[str, tuple] = {}
        if "@language" not in ctx and "@direction" not in ctx:
            for term, definition in ctx["mappings"].items():
                plan = _term_plan(term, definition)
                if plan is not None:
                    plans[term] = plan
        self._plans[uuid] = (ctx, plans)
        return plans


def _term_plan(term: str, definition: Any) -> tuple | None:
    if not definition or term.startswith("@") or not isinstance(term, str):
        return None
    iri = definition.get("@id")
    if iri == "@id" and term == "id":
        return (_ID, None, None)
    if iri == "@type" and term == "type":
        return (_TYPE, None, None) if not definition.get("@container") else None
    if (type(iri) is not str or iri.startswith("@") or iri.startswith("_:") or iri == _RDF_TYPE_IRI
            or not _PYLD_ABSOLUTE(iri) or not _ABSOLUTE_IRI.match(iri)):
        return None
    if definition.get("reverse") or "@language" in definition or "@direction" in definition \
            or "@index" in definition or "@nest" in definition:
        return None
    container = definition.get("@container")
    if container and list(container) != ["@set"]:
        return None
    kind_of = definition.get("@type")
    predicate = f"<{iri}>"
    if kind_of is None:
        return (_PLAIN, predicate, None)
    if kind_of == "@id":
        return (_IRI, predicate, None)
    if kind_of == "@vocab":
        return (_VOCAB, predicate, None)
    if type(kind_of) is str and not kind_of.startswith("@") and kind_of != _XSD_DOUBLE and _PYLD_ABSOLUTE(kind_of):
        return (_TYPED, predicate, kind_of)
    return None  # @json, @none, a relative datatype, xsd:double (pyld reformats its strings)


class _Walk:
    """One document: quads as (subject, predicate, object) tokens, already N-Quads terms."""

    def __init__(self, processor: Any, compiler: Compiler, options: dict, max_types: int) -> None:
        self.processor = processor
        self.compiler = compiler
        self.options = options
        self.max_types = max_types
        # (subject, predicate, object) as N-Quads terms, and the object's (text, datatype) if a literal
        self.quads: list[tuple[str, str, str, tuple[str, str] | None]] = []
        self.blank = 0
        # what each (subject, predicate) already has, by pyld's notion of equal values: its node
        # map adds a value only once per node and property, across all objects with one IRI
        self.seen: dict[tuple[str, str], set] = {}
        self.types: dict[str, set[str]] = {}  # subject -> its types, all its objects together

    def node(self, element: dict, active: Any, types_ctx: Any, top: bool) -> str:
        """Write the node ``element`` (its active context and the one for its types already
        found) and return its subject token."""
        plans = self.compiler.plan(active)
        node_id = None
        types: Any = ()
        for key in element:
            plan = plans.get(key)
            if plan is None:
                if not (top and key == "@context"):
                    raise Declined
                continue
            if plan[0] is _ID:
                node_id = _iri_value(element[key], active)
            elif plan[0] is _TYPE:
                types = element[key]
        if node_id is None:
            subject = f"_:b{self.blank}"
            self.blank += 1
        else:
            subject = f"<{node_id}>"  # objects with one IRI are one node: their quads merge
        quads = self.quads
        if types:
            if type(types) is not list:
                types = [types]
            seen = self.types.setdefault(subject, set())
            if len(types) > self.max_types:
                raise Declined
            mappings = types_ctx["mappings"]
            for type_ in types:
                if type(type_) is not str:
                    raise Declined
                iri = _vocab_value(type_, types_ctx)
                if not mappings.get(type_) and iri in self.compiler.term_iris(types_ctx):
                    raise Declined  # an IRI written for a term: the full path refuses it
                if iri not in seen:
                    seen.add(iri)
                    quads.append((subject, _RDF_TYPE, f"<{iri}>", None))
            if len(seen) > self.max_types:
                raise Declined  # (the full path refuses it: pyld's type merge is quadratic)
        for key, value in element.items():
            plan = plans.get(key)
            if plan is None or plan[0] is _ID or plan[0] is _TYPE:
                continue
            term_ctx = active
            scoped = active["mappings"][key].get("@context")
            if scoped is not None:  # a property-scoped context, as pyld's _expand_object applies it
                cache_key = ("scoped", active["_uuid"], key)
                hit = self.compiler._children.get(cache_key)
                if hit is not None and hit[0] is active:
                    term_ctx = hit[1]
                else:
                    term_ctx = self.processor._process_context(active, scoped, self.options, override_protected=True)
                    if not _frozen(term_ctx):
                        raise Declined
                    self.compiler._children[cache_key] = (active, term_ctx)
            predicate = plan[1]
            keys = self.seen.setdefault((subject, predicate), set())
            if type(value) is list:
                for item in value:  # (an empty array: no value, as in pyld)
                    self.value(subject, predicate, key, item, term_ctx, keys)
            else:
                self.value(subject, predicate, key, value, term_ctx, keys)
        return subject

    def value(self, subject: str, predicate: str, key: str, value: Any, term_ctx: Any, keys: set) -> None:
        kind = type(value)
        if kind is dict:
            child, child_types = self.child_context(term_ctx, key, value)
            node = self.node(value, child, child_types, False)
            if node[0] == "<":  # a node reference, added once (a blank node is always new)
                if ("@id", node[1:-1]) in keys:
                    return
                keys.add(("@id", node[1:-1]))
            self.quads.append((subject, predicate, node, None))
            return
        plan = self.compiler.plan(term_ctx).get(key)
        if plan is None:
            raise Declined
        how, _, datatype = plan
        if kind is str:
            if how is _IRI:
                iri = _iri_value(value, term_ctx)
                token, dedupe, literal = f"<{iri}>", ("@id", iri), None
            elif how is _VOCAB:
                iri = _vocab_value(value, term_ctx)
                token, dedupe, literal = f"<{iri}>", ("@id", iri), None
            elif how is _TYPED:
                token, dedupe, literal = f'"{_escape(value)}"^^<{datatype}>', ("s", value, datatype), (value, datatype)
            elif how is _PLAIN:
                token, dedupe, literal = f'"{_escape(value)}"', ("s", value, None), (value, _XSD_STRING)
            else:
                raise Declined
        elif kind is bool and (how is _PLAIN or how is _TYPED):
            # pyld: "true"/"false", typed with the term's datatype if it has one (never xsd:double here)
            text, datatype = ("true" if value else "false"), datatype or _XSD_BOOLEAN
            token, dedupe, literal = f'"{text}"^^<{datatype}>', ("b", value, datatype), (text, datatype)
        elif kind is int and (how is _PLAIN or how is _TYPED) and -_MAX_INT < value < _MAX_INT:
            text, datatype = str(value), datatype or _XSD_INTEGER
            token, dedupe, literal = f'"{text}"^^<{datatype}>', ("n", value, datatype), (text, datatype)
        else:
            raise Declined  # null, floats, nested arrays, IRIs that are not strings, …
        # pyld drops a value equal (compare_values) to one the node's property already has
        if dedupe in keys:
            return
        keys.add(dedupe)
        self.quads.append((subject, predicate, token, literal))

    def child_context(self, term_ctx: Any, key: str, element: dict) -> tuple[Any, Any]:
        """pyld's _expand for an object under ``key``: revert a type-scoped context (unless the
        object is a lone id), apply the property-scoped context, then the type-scoped contexts
        of its types in sorted order. Returns (active context, context for its types)."""
        types = element.get("type", [])
        if type(types) is not list:
            types = [types]
        for type_ in types:
            if type(type_) is not str:
                raise Declined
        shape = tuple(sorted(element)) if len(element) <= 2 else None
        cache_key = (term_ctx["_uuid"], key, tuple(sorted(types)), shape)
        hit = self.compiler._children.get(cache_key)
        if hit is not None and hit[0] is term_ctx:
            return hit[1], hit[2]
        processor, options = self.processor, self.options
        active = term_ctx
        property_scoped = pyld.JsonLdProcessor.get_context_value(active, key, "@context")
        type_scoped = active if active.get("previousContext") else None
        must_revert = True
        if type_scoped and shape is not None:
            for name in shape:
                expanded = processor._expand_iri(type_scoped, name, vocab=True)
                if expanded == "@value":
                    raise Declined
                if expanded == "@id" and len(element) == 1:
                    must_revert = False
                    break
        if must_revert:
            active = active.get("previousContext", active)
        if property_scoped is not None:
            active = processor._process_context(active, property_scoped, options, override_protected=True)
        types_ctx = active
        if "type" in element:
            if processor._expand_iri(active, "type", vocab=True) != "@type":
                raise Declined
            for type_ in sorted(types):
                scoped = pyld.JsonLdProcessor.get_context_value(types_ctx, type_, "@context")
                if scoped is not None and scoped is not False:
                    active = processor._process_context(active, scoped, options, propagate=False)
        if not _frozen(active) or not _frozen(types_ctx):
            raise Declined
        self.compiler._children[cache_key] = (term_ctx, active, types_ctx)
        return active, types_ctx


def _frozen(ctx: Any) -> bool:
    return hasattr(ctx, "__hash__") and type(ctx).__name__ == "frozendict"


def quads(document: dict, processor: Any, compiler: Compiler, options: dict, initial: Any,
          max_types: int) -> list[tuple] | None:
    """The quads of ``document`` (subject, predicate, object as N-Quads terms, blank nodes
    ``_:b0``, …), or None where the fast path declines."""
    local = document.get("@context")
    contexts = [local] if type(local) is str else local
    if type(contexts) is not list or not contexts or len(document) < 2 \
            or not all(type(url) is str and url in options["documentLoader"] for url in contexts):
        return None
    try:
        top = processor._process_context(initial, local, options)
        types_ctx = top
        active = top
        types = document.get("type", ())
        if "type" in document:
            if processor._expand_iri(top, "type", vocab=True) != "@type":
                return None
            if type(types) is not list:
                types = [types]
            if not all(type(t) is str for t in types):
                return None
            for type_ in sorted(types):
                scoped = pyld.JsonLdProcessor.get_context_value(types_ctx, type_, "@context")
                if scoped is not None and scoped is not False:
                    active = processor._process_context(active, scoped, options, propagate=False)
        if not _frozen(active):
            return None
        walk = _Walk(processor, compiler, options, max_types)
        walk.node(document, active, types_ctx, True)
        return walk.quads
    except (Declined, pyld.JsonLdError, KeyError, TypeError, ValueError, AttributeError):
        return None  # pyld's own errors too: the full path raises them with their message


def canonical_nquads(quads_: list[tuple], rdfc: Any) -> str:
    """RDFC-1.0 canonical N-Quads of ``quads_``: the main loop of the algorithm (RDFC-1.0 §4.4,
    as pyld's ``URDNA2015.main``), with the first-degree hashes computed here from the quads'
    N-Quads terms. Blank nodes alike at first degree go to ``rdfc``'s own Hash N-Degree Quads
    (``jsonld._BudgetedRDFC``: pyld's, under the work budget), exactly as pyld would call it."""
    mentions: dict[str, list[tuple]] = {}
    for quad in quads_:
        s, _, o, _ = quad
        if s[0] == "_":
            mentions.setdefault(s, []).append(quad)
        if o[0] == "_":  # (twice for a quad from a blank node to itself, as pyld counts it)
            mentions.setdefault(o, []).append(quad)
    by_hash: dict[str, list[str]] = {}
    hashes: dict[str, str] = {}
    for label, related in mentions.items():
        lines = sorted(f"{_first_degree(s, label)} {p} {_first_degree(o, label)} .\n" for s, p, o, _ in related)
        digest = hashes[label] = hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()
        by_hash.setdefault(digest, []).append(label)
    issuer = rdfc.canonical_issuer
    alike = []
    for digest, labels in sorted(by_hash.items()):
        if len(labels) == 1:
            issuer.get_id(labels[0])  # a hash of its own: its label follows from the hash order
        else:
            alike.append(labels)
    if alike:
        _hash_n_degree(quads_, mentions, hashes, alike, rdfc)
    canonical = issuer.existing
    lines = [f"{canonical.get(s, s)} {p} {canonical.get(o, o) if o[0] == '_' else o} .\n" for s, p, o, _ in quads_]
    lines.sort()
    return "".join(lines)


def _hash_n_degree(quads_: list[tuple], mentions: dict[str, list[tuple]], hashes: dict[str, str],
                   alike: list[list[str]], rdfc: Any) -> None:
    """RDFC-1.0 §4.4 step 6 for the groups of alike blank nodes, in hash order.

    A node whose related blank nodes all have their canonical labels already (the usual case:
    many objects without an id under one node) gets its Hash N-Degree Quads computed here from
    its N-Quads terms (:func:`_shallow_hash`), with the budget charged as pyld's would be. Any
    other goes to ``rdfc``'s own Hash N-Degree Quads, with pyld's state (its quads, and the
    first-degree hashes already known), built the first time, so that it runs as within its own
    main loop, budget included."""
    canonical = rdfc.canonical_issuer
    state_built = False
    for labels in alike:
        results = []
        for label in labels:
            if canonical.has_id(label):
                continue
            digest = _shallow_hash(mentions[label], label, canonical.existing, rdfc._spend)  # noqa: SLF001
            if digest is not None:
                results.append((digest, (label,)))
                continue
            if not state_built:
                _pyld_state(quads_, hashes, rdfc)
                state_built = True
            temporary = IdentifierIssuer("_:b")
            temporary.get_id(label)
            result = rdfc.hash_n_degree_quads(label, temporary)
            results.append((result["hash"], result["issuer"].order))
        for _digest, order in sorted(results, key=lambda r: r[0]):  # stable, as pyld's sort
            for existing in order:
                canonical.get_id(existing)


_POSITIONS = ("s", "o")
# Budget steps per quad of a node Hash N-Degree Quads looks at: each costs a SHA-256 and
# some string work, a few times a permutation step (jsonld._BudgetedRDFC charges the same).
QUAD_STEPS = 4


def _shallow_hash(quads_: list[tuple], label: str, canonical: dict[str, str], spend: Any) -> str | None:
    """Hash N-Degree Quads (RDFC-1.0 §4.8) of ``label`` with a fresh issuer when every blank
    node its quads name has a canonical label, else None. Then each related node is known by
    that label: no permutation to try beyond the one, nothing issued, no recursion, and the
    result is the hash of the related hashes in order, each followed by its node's label. The
    budget is charged what pyld's algorithm would spend (``jsonld._BudgetedRDFC``): the call,
    1 + 4 per quad, and one issuer copy per related hash, 2 (it holds ``label`` only)."""
    related: dict[str, str] = {}
    for quad in quads_:
        for position, token in zip(_POSITIONS, (quad[0], quad[2]), strict=True):
            if token[0] != "_" or token == label:
                continue
            known = canonical.get(token)
            if known is None:
                return None
            digest = hashlib.sha256(f"{position}{quad[1]}{known}".encode()).hexdigest()
            if digest in related:
                return None  # two related nodes under one hash: pyld tries their permutations
            related[digest] = known
    spend(1 + QUAD_STEPS * len(quads_) + 2 * len(related))
    md = hashlib.sha256()
    for digest in sorted(related):
        md.update(digest.encode())
        md.update(related[digest].encode())
    return md.hexdigest()


def _pyld_state(quads_: list[tuple], hashes: dict[str, str], rdfc: Any) -> None:
    """pyld's RDFC-1.0 state for these quads: the quads and, per blank node, its quads and hash."""
    info = rdfc.blank_node_info
    for triple, (s, _, o, _) in zip(pyld_dataset(quads_)["@default"], quads_, strict=True):
        rdfc.quads.append(triple)
        for token in (s, o):
            if token[0] == "_":
                info.setdefault(token, {"quads": []})["quads"].append(triple)
    for label, digest in hashes.items():
        info[label]["hash"] = digest


def _first_degree(token: str, label: str) -> str:
    if token[0] != "_":
        return token
    return "_:a" if token == label else "_:z"


def pyld_dataset(quads_: list[tuple]) -> dict[str, list[dict]]:
    """The quads in pyld's dataset form, for its (budgeted) RDFC-1.0."""
    triples = []
    for s, p, o, literal in quads_:
        if literal is None:
            obj = _component(o)
        else:
            obj = {"type": "literal", "value": literal[0], "datatype": literal[1]}
        triples.append({"subject": _component(s), "predicate": {"type": "IRI", "value": p[1:-1]}, "object": obj})
    return {"@default": triples}


def _component(token: str) -> dict[str, str]:
    if token[0] == "_":
        return {"type": "blank node", "value": token}
    return {"type": "IRI", "value": token[1:-1]}
