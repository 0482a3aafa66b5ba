"""YAML events → plain data that remembers where each key and value stood.

PyYAML's composer recurses (deep nesting raises RecursionError), follows a self-referencing
anchor forever, and its constructor expands aliases before anything can count them. This
composer works on the parser's event stream instead: it keeps aliases as shared nodes,
prices each one by the size it would expand to, and refuses a document over `Limits`
before anything is expanded. Scalars are typed by `resolve_scalar`, never by YAML 1.1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from lbdeploy.inventory.scalars import resolve_scalar
from lbdeploy.inventory.text import Limits, YamlProblem

Loc = tuple[str | int, ...]
Mark = tuple[int, int]  # 1-based line, column

_STR_TAGS = {"!", "tag:yaml.org,2002:str"}
_SEQ_TAGS = {"!", "tag:yaml.org,2002:seq"}
_MAP_TAGS = {"!", "tag:yaml.org,2002:map"}


@dataclass
class Located:
    """Parsed YAML plus the position of every value and every mapping key, by path."""

    data: Any
    values: dict[Loc, Mark] = field(default_factory=dict)
    keys: dict[Loc, Mark] = field(default_factory=dict)
    duplicates: list[Loc] = field(default_factory=list)

    def mark(self, loc: Loc, prefer_key: bool = False) -> Mark:
        """The position of `loc`, or of its nearest ancestor that has one."""
        for end in range(len(loc), -1, -1):
            sub = loc[:end]
            tables = (self.keys, self.values) if prefer_key else (self.values, self.keys)
            for table in tables:
                if sub in table:
                    return table[sub]
        return (1, 1)


@dataclass(eq=False)
class _Node:
    """One node of the document as written; an alias is this same object again."""

    mark: Mark
    value: Any = None  # a scalar's resolved value
    text: str = ""  # a scalar as written (keys use it)
    merge: bool = False  # a plain '<<' key
    items: list[_Node] | None = None  # a sequence
    pairs: list[tuple[_Node, _Node]] | None = None  # a mapping
    size: int = 1  # nodes once every alias inside is expanded
    chars: int = 0  # scalar characters once expanded
    height: int = 1


def _unsupported(tag: str) -> str:
    shown = tag.replace("tag:yaml.org,2002:", "!!", 1)
    return f"the tag {shown} is not supported (only !!str); remove it"


def _mark(event: yaml.Event) -> Mark:
    mark = event.start_mark
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


@dataclass
class _Composer:
    """Builds the node graph from events, counting what aliases would expand to."""

    limits: Limits
    anchors: dict[str, _Node] = field(default_factory=dict)
    open_anchors: set[str] = field(default_factory=set)
    stack: list[tuple[_Node, str | None]] = field(default_factory=list)
    aliases: int = 0
    nodes: int = 0
    chars: int = 0
    root: _Node | None = None
    documents: int = 0

    def feed(self, event: yaml.Event) -> None:
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise YamlProblem(*_mark(event), "a second YAML document; an inventory is one")
        elif isinstance(event, yaml.AliasEvent):
            self._alias(event)
        elif isinstance(event, yaml.ScalarEvent):
            self._scalar(event)
        elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            self._open(event)
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            node, anchor = self.stack.pop()
            children = node.items if node.items is not None else _flat(node.pairs or [])
            node.size = 1 + sum(c.size for c in children)
            node.chars = sum(c.chars for c in children)
            node.height = 1 + max((c.height for c in children), default=0)
            if anchor is not None:
                self.open_anchors.discard(anchor)
                self.anchors[anchor] = node
            self._add(node)

    def _alias(self, event: yaml.AliasEvent) -> None:
        self.aliases += 1
        where = _mark(event)
        name = str(event.anchor)
        if self.aliases > self.limits.max_aliases:
            raise YamlProblem(
                *where, f"more than {self.limits.max_aliases} aliases, the YAML alias limit"
            )
        if name in self.open_anchors:
            raise YamlProblem(*where, f"alias *{name} refers to a node that contains it")
        target = self.anchors.get(name)
        if target is None:
            raise YamlProblem(*where, f"alias *{name} has no anchor &{name} before it")
        if len(self.stack) + target.height > self.limits.max_depth:
            raise YamlProblem(*where, self._too_deep())
        self.nodes += target.size
        self.chars += target.chars
        if self.nodes > self.limits.max_nodes:
            raise YamlProblem(
                *where,
                f"alias *{name} expands the document past {self.limits.max_nodes} nodes,"
                " the YAML node limit",
            )
        if self.chars > self.limits.max_text:
            raise YamlProblem(
                *where,
                f"alias *{name} expands the document past {self.limits.max_text} characters,"
                " the YAML text limit",
            )
        self._add(target)

    def _scalar(self, event: yaml.ScalarEvent) -> None:
        where = _mark(event)
        if event.tag is not None and event.tag not in _STR_TAGS:
            raise YamlProblem(*where, _unsupported(event.tag))
        text = str(event.value)
        if any("\ud800" <= ch <= "\udfff" for ch in text):
            raise YamlProblem(*where, "an escaped lone surrogate is not a character")
        plain = event.style is None and event.tag is None
        try:
            value = resolve_scalar(text) if plain else text
        except ValueError as exc:
            raise YamlProblem(*where, str(exc)) from None
        node = _Node(where, value=value, text=text, merge=plain and text == "<<", chars=len(text))
        self._count(node, len(self.stack) + 1)
        if event.anchor is not None:
            self._new_anchor(event.anchor, where)
            self.anchors[event.anchor] = node
        self._add(node)

    def _open(self, event: yaml.CollectionStartEvent) -> None:
        where = _mark(event)
        is_seq = isinstance(event, yaml.SequenceStartEvent)
        if event.tag is not None and event.tag not in (_SEQ_TAGS if is_seq else _MAP_TAGS):
            raise YamlProblem(*where, _unsupported(event.tag))
        node = _Node(where, items=[] if is_seq else None, pairs=None if is_seq else [])
        self._count(node, len(self.stack) + 1)
        if event.anchor is not None:
            self._new_anchor(event.anchor, where)
            self.open_anchors.add(event.anchor)
        self.stack.append((node, event.anchor))

    def _count(self, node: _Node, depth: int) -> None:
        self.nodes += 1
        self.chars += node.chars
        if depth > self.limits.max_depth:
            raise YamlProblem(*node.mark, self._too_deep())
        if self.nodes > self.limits.max_nodes:
            raise YamlProblem(
                *node.mark, f"more than {self.limits.max_nodes} nodes, the YAML node limit"
            )
        if self.chars > self.limits.max_text:
            raise YamlProblem(
                *node.mark, f"more than {self.limits.max_text} characters, the YAML text limit"
            )

    def _too_deep(self) -> str:
        return f"nests deeper than {self.limits.max_depth} levels, the YAML depth limit"

    def _new_anchor(self, anchor: str, where: Mark) -> None:
        if anchor in self.anchors or anchor in self.open_anchors:
            raise YamlProblem(*where, f"anchor &{anchor} is defined twice")

    def _add(self, node: _Node) -> None:
        if not self.stack:
            self.root = node
            return
        parent = self.stack[-1][0]
        if parent.items is not None:
            parent.items.append(node)
        elif parent.pairs is not None:
            if parent.pairs and parent.pairs[-1][1] is _PENDING:
                parent.pairs[-1] = (parent.pairs[-1][0], node)
            else:
                parent.pairs.append((node, _PENDING))


_PENDING = _Node((0, 0))


def _flat(pairs: list[tuple[_Node, _Node]]) -> list[_Node]:
    return [n for pair in pairs for n in pair]


def compose_yaml(text: str, limits: Limits) -> Located:
    """Parse one YAML document within `limits`, keeping positions; duplicate keys recorded."""
    loader = yaml.SafeLoader(text)
    composer = _Composer(limits)
    try:
        while not isinstance(event := _next_event(loader), yaml.StreamEndEvent):
            composer.feed(event)
    finally:
        loader.dispose()
    located = Located(data=None)
    if composer.root is not None:
        located.data = _build(composer.root, (), located)
    return located


def _next_event(loader: yaml.SafeLoader) -> yaml.Event:
    """The parser's next event; a bad escape such as "\\U00110000" raises ValueError."""
    try:
        return loader.get_event()
    except (ValueError, OverflowError) as exc:
        mark = loader.get_mark()
        message = f"not valid YAML: an escape that is no character ({exc})"
        raise YamlProblem(mark.line + 1, mark.column + 1, message) from None


def _build(node: _Node, loc: Loc, out: Located) -> Any:
    """Expand the graph into plain data; `Limits` already bounds its size and depth."""
    out.values[loc] = node.mark
    if node.items is not None:
        return [_build(item, (*loc, i), out) for i, item in enumerate(node.items)]
    if node.pairs is None:
        return node.value
    result: dict[str, Any] = {}
    explicit = {_key_text(key) for key, _ in node.pairs if not key.merge}
    for key, value in node.pairs:
        for source in _merge_sources(value) if key.merge else []:
            for name, (merged_key, merged_value) in _pairs_of(source).items():
                if name not in explicit and name not in result:
                    out.keys[(*loc, name)] = merged_key.mark
                    result[name] = _build(merged_value, (*loc, name), out)
    explicit.clear()
    for key, value in node.pairs:
        if key.merge:
            continue
        name = _key_text(key)
        child = (*loc, name)
        if name in explicit:
            out.duplicates.append(child)
        explicit.add(name)
        out.keys[child] = key.mark
        result[name] = _build(value, child, out)
    return result


def _key_text(key: _Node) -> str:
    """A key is a name: the scalar as written, so `yes:` or `010:` stays what it says."""
    if key.items is not None or key.pairs is not None:
        raise YamlProblem(*key.mark, "a key must be a plain name, not a list or mapping")
    if not key.text.isprintable():
        raise YamlProblem(*key.mark, f"the key {key.text!r} holds a non-printing character")
    return key.text


def _merge_sources(value: _Node) -> list[_Node]:
    """`<<: *a` or `<<: [*a, *b]`: the mappings to merge, earlier ones winning."""
    sources = value.items if value.items is not None else [value]
    if any(s.pairs is None for s in sources):
        raise YamlProblem(*value.mark, "'<<' merges a mapping or a list of mappings")
    return sources


def _pairs_of(node: _Node) -> dict[str, tuple[_Node, _Node]]:
    """A mapping's own keys over the keys it merges itself (nesting is depth-limited)."""
    pairs: dict[str, tuple[_Node, _Node]] = {}
    for key, value in node.pairs or []:
        if not key.merge:
            pairs[_key_text(key)] = (key, value)
    for key, value in node.pairs or []:
        if key.merge:
            for source in _merge_sources(value):
                for name, pair in _pairs_of(source).items():
                    pairs.setdefault(name, pair)
    return pairs
