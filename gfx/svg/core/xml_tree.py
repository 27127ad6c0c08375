"""Safe XML for untrusted SVG: a minimal element tree, its id index, and the bound on reference expansion.

Plain Python. The XML is read by expat with a guard equivalent to defusedxml's: no entity declarations, no
DTD internal subset, no external DTD other than the W3C SVG ones (never fetched), no external or undefined
entities, so nothing is loaded from the network or the disk and entity-expansion bombs are refused before
any expansion. Element count and nesting depth are checked while reading, so an oversized input fails fast.
Every refusal raises `SVGError` with a one-line message naming the source.
"""

from __future__ import annotations

from collections.abc import Callable
from xml.parsers import expat

from gfx.svg.core.document import SVGError

SVG_NAMESPACE = "http://www.w3.org/2000/svg"
HREFS = ("href", "http://www.w3.org/1999/xlink href")
"""A reference attribute as `read_xml` names it: SVG 2 `href`, SVG 1.1 `xlink:href`."""

_W3C_DTD_PUBLIC_IDS = frozenset(
    {
        "-//W3C//DTD SVG 1.0//EN",
        "-//W3C//DTD SVG 20010904//EN",
        "-//W3C//DTD SVG 1.1//EN",
        "-//W3C//DTD SVG 1.1 Basic//EN",
        "-//W3C//DTD SVG 1.1 Tiny//EN",
    }
)
_W3C_DTD_PREFIXES = ("http://www.w3.org/Graphics/SVG/", "http://www.w3.org/TR/2001/REC-SVG-20010904/")


class Node:
    """One XML element: `tag` ("namespace name" or "name"), `attrs` (names likewise) and `children`."""

    __slots__ = ("tag", "attrs", "children")

    def __init__(self, tag: str, attrs: dict[str, str]):
        self.tag = tag
        self.attrs = attrs
        self.children: list[Node] = []

    @property
    def name(self) -> str:
        """The local tag name, e.g. "path"; "" for an element outside the SVG namespace."""
        namespace, _, tag = self.tag.rpartition(" ")
        return tag if namespace in ("", SVG_NAMESPACE) else ""


def read_xml(data: str | bytes, source: str, max_elements: int, max_depth: int) -> Node:
    """Build the element tree with expat, refusing DTD tricks and enforcing the element and depth limits
    (`ParseLimits.max_elements`, `max_depth`) as it reads."""
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[Node] = []
    roots: list[Node] = []
    count = 0

    def refuse(message: str):
        raise SVGError(f"{source} {message}")

    def doctype(name, system_id, public_id, has_internal_subset):
        if has_internal_subset:
            refuse("has a DOCTYPE with an internal subset (entity declarations); remove the DOCTYPE")
        if (public_id and public_id not in _W3C_DTD_PUBLIC_IDS) or (
            system_id and not system_id.startswith(_W3C_DTD_PREFIXES)
        ):
            refuse(f"refers to an external DTD {system_id or public_id!r}; remove the DOCTYPE")

    def start(tag, attrs):
        nonlocal count
        count += 1
        if count > max_elements:
            refuse(f"has more than {max_elements} elements; the limit is {max_elements} (max_elements)")
        if len(stack) >= max_depth:
            refuse(f"nests elements {len(stack) + 1} deep; the limit is {max_depth} (max_depth)")
        node = Node(tag, attrs)
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = lambda name, *_: refuse(f"declares the entity {name!r}; entities are refused")
    parser.UnparsedEntityDeclHandler = lambda name, *_: refuse(
        f"declares the entity {name!r}; entities are refused"
    )
    parser.ExternalEntityRefHandler = lambda *_: refuse("references an external entity; entities are refused")
    parser.SkippedEntityHandler = lambda name, *_: refuse(f"uses the undefined entity &{name};")
    parser.StartElementHandler = start
    parser.EndElementHandler = lambda tag: stack.pop()
    try:
        parser.Parse(data, True)
    except (UnicodeError, LookupError) as err:  # lone surrogates, an unknown declared encoding
        raise SVGError(f"{source} cannot be decoded: {err}") from None
    except expat.ExpatError as err:
        message = expat.ErrorString(err.code)
        raise SVGError(
            f"{source} is not well-formed XML: {message} at line {err.lineno}, column {err.offset}"
        ) from None
    return roots[0]


def index_ids(root: Node) -> dict[str, Node]:
    """{id: element} over the tree; the first element wins when an id repeats."""
    ids: dict[str, Node] = {}
    nodes = [root]
    for node in nodes:  # breadth-first; appending while iterating visits every node once
        if node.attrs.get("id"):
            ids.setdefault(node.attrs["id"].strip(), node)
        nodes.extend(node.children)
    return ids


def local_reference(text: str | None) -> str | None:
    """The id of a same-document reference, `#id` or `url(#id)` (quotes allowed), else None."""
    text = (text or "").strip()
    if text.startswith("url(") and ")" in text:
        text = text[4 : text.index(")")].strip().strip("'\"").strip()
    return text[1:] if text.startswith("#") and len(text) > 1 else None


def href_target(node: Node) -> str | None:
    """The id an element's `href` / `xlink:href` references in this document, else None."""
    return local_reference(next((node.attrs[name] for name in HREFS if name in node.attrs), None))


def check_expansion(
    root: Node, ids: dict[str, Node], limit: int, source: str, references: Callable[[Node], list[str]]
) -> None:
    """Refuse a tree that a renderer would blow up: count its elements with every reference (a `<use>`'s
    target, a clip path, a mask) replaced by what it references, recursively, without expanding anything (one
    visit per element, memoized), and refuse reference cycles. Linear in the tree size, so a `<use>` or mask
    bomb is refused in milliseconds.

    Args:
        limit: `ParseLimits.max_expanded_elements`.
        references: node -> the ids it draws besides its children.
    """
    drawn: dict[int, list[Node]] = {}  # id(node) -> the nodes it references
    nodes = [root]
    for node in nodes:
        nodes.extend(node.children)
        targets = [ids[ref] for ref in references(node) if ref in ids]
        if targets:
            drawn[id(node)] = targets
    if not drawn:
        return
    expanded: dict[int, int] = {}  # id(node) -> elements it draws, capped at limit + 1
    on_path: set[int] = set()  # nodes whose count is in progress: the current path from the root
    stack = [(root, False)]
    while stack:  # iterative post-order: reference chains can be far deeper than Python's recursion limit
        node, children_done = stack.pop()
        key = id(node)
        below = [*node.children, *drawn.get(key, ())]
        if children_done:
            on_path.discard(key)
            expanded[key] = min(limit + 1, 1 + sum(expanded[id(child)] for child in below))
        elif key not in expanded:
            on_path.add(key)
            stack.append((node, True))
            for child in below:
                if id(child) in on_path:
                    raise SVGError(
                        f"{source} has a reference cycle: an element that draws itself through <use>, clip-path or"
                        " mask; remove it"
                    )
                stack.append((child, False))
    if expanded[id(root)] > limit:
        raise SVGError(
            f"{source} has more than {limit} elements once <use>, clip-path and mask references are expanded; the"
            f" limit is {limit} (max_expanded_elements)"
        )
