"""The rules of a pathway's ``requires``, pure (docs/pathways.md): its normal form, cycles, and when it is met.

A requirement is ``{"all_of": [element…]}`` or ``{"k_of_n": {"k": k, "of": [element…]}}``. An
element is one of the issuer's own achievement ids (``"ach_…"``), which may itself be a
pathway, or an achievement of another issuer, ``{"achievement": "<its public URL>", "issuer":
"<the DID that must have signed it>"}`` — met only by a verified external component. The
normal form (what is stored) is ``{"k": k, "of": [element…]}``, with ``all_of`` as ``k = len``
and each external element as ``"ext:<issuer DID> <achievement URL>"`` so that an element is
one comparable string.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

EXTERNAL = "ext:"


@dataclass(frozen=True)
class Requirement:
    k: int
    of: tuple[str, ...]

    def as_json(self) -> dict:
        return {"k": self.k, "of": list(self.of)}

    def local(self) -> list[str]:
        """The issuer's own achievements among the elements."""
        return [e for e in self.of if not e.startswith(EXTERNAL)]

    def external(self) -> list[tuple[str, str]]:
        """(issuer DID, achievement URL) of each external element."""
        return [split_external(e) for e in self.of if e.startswith(EXTERNAL)]


def external_ref(issuer_did: str, achievement_url: str) -> str:
    return f"{EXTERNAL}{issuer_did} {achievement_url}"


def split_external(element: str) -> tuple[str, str]:
    did, _, url = element[len(EXTERNAL):].partition(" ")
    return did, url


def from_json(stored: Mapping | None) -> Requirement | None:
    if not stored:
        return None
    return Requirement(int(stored["k"]), tuple(stored["of"]))


def find_cycle(start: str, requirement: Requirement,
               requires_of: Callable[[str], Requirement | None]) -> list[str] | None:
    """The achievement ids of a cycle through ``start`` if it required ``requirement``, else None.

    Depth-first over the stored requirements (``requires_of``); what is already stored has no
    cycle (every change is checked here), so only a path back to ``start`` can close one.
    """
    stack: list[tuple[str, Iterable[str]]] = [(start, iter(requirement.local()))]
    path = [start]
    seen: set[str] = set()
    while stack:
        node, children = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            path.pop()
            continue
        if child == start:
            return [*path, start]
        if child in seen:
            continue
        seen.add(child)
        nested = requires_of(child)
        if nested is not None:
            stack.append((child, iter(nested.local())))
            path.append(child)
    return None


def met(requirement: Requirement, held: Callable[[str], bool]) -> bool:
    """True when at least k of the elements are held."""
    return sum(1 for e in requirement.of if held(e)) >= requirement.k
