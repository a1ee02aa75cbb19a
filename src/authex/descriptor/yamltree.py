"""Turn YAML (or JSON) text into plain Python values plus the location of every value and key.

PyYAML's composer gives a node graph whose nodes carry 0-based start marks; we walk it once and
build ``dict``/``list``/scalar values together with two maps from a field path such as
``("connections", 2, "to")`` to a 1-based :class:`Location` — one for the value, one for the key
that introduced it.  Nothing here raises for bad input: every YAML error becomes a
:class:`Problem`, so the caller can report it together with everything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from authex.descriptor.model import Location, Problem

FieldPath = tuple[str | int, ...]

MAX_DEPTH = 64  # a descriptor is four levels deep; anything far deeper is a mistake or an attack
MAX_NODES = 50_000  # bounds alias expansion ("billion laughs")

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"


class _Mark(Protocol):
    """PyYAML's mark (pure-Python or C extension): 0-based line and column."""

    @property
    def line(self) -> int: ...

    @property
    def column(self) -> int: ...


def format_path(path: FieldPath) -> str:
    """``("connections", 2, "to")`` -> ``"connections[2].to"``; the empty path -> ``""``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


@dataclass
class Tree:
    """The values of a document and where each was written."""

    file: str
    value: object = None
    values: dict[FieldPath, Location] = field(default_factory=dict)
    keys: dict[FieldPath, Location] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    broken: set[FieldPath] = field(default_factory=set)  # values replaced by None after a problem

    def location(self, path: FieldPath, *, key: bool = False) -> Location | None:
        """Where ``path`` was written (its key if ``key``), else its nearest known ancestor."""
        if key and path in self.keys:
            return self.keys[path]
        for end in range(len(path), -1, -1):
            found = self.values.get(path[:end])
            if found is not None:
                return found
        return None


def _mark_location(file: str, mark: _Mark | None) -> Location | None:
    if mark is None:
        return None
    return Location(file, mark.line + 1, mark.column + 1)


def _offset_location(file: str, text: str, offset: int) -> Location:
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return Location(file, line, column)


def _yaml_problem(file: str, text: str, exc: yaml.YAMLError) -> Problem:
    if isinstance(exc, yaml.MarkedYAMLError):
        location = _mark_location(file, exc.problem_mark) or _mark_location(file, exc.context_mark)
        message = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            context_at = ""
            if exc.context_mark is not None and exc.context_mark is not exc.problem_mark:
                context_at = f" at line {exc.context_mark.line + 1}"
            message = f"{exc.problem} ({exc.context}{context_at})"
        if "'\\t'" in message:
            message += "; indent with spaces, not tabs"
        return Problem(location, "", f"YAML syntax error: {message}")
    if isinstance(exc, yaml.reader.ReaderError):
        where = _offset_location(file, text, exc.position)
        char = exc.character if isinstance(exc.character, int) else ord(exc.character[:1] or "?")
        return Problem(where, "", f"YAML syntax error: unacceptable character U+{char:04X}")
    return Problem(Location(file, 1, 1), "", f"YAML syntax error: {exc}")


def _too_deep(text: str, file: str) -> Problem | None:
    """Find nesting beyond MAX_DEPTH from the (non-recursive) event stream, before the
    (recursive) composer would spend its time running into Python's recursion limit."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                where = _mark_location(file, event.start_mark)
                return Problem(where, "", f"the document is nested more than {MAX_DEPTH} deep")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return None


def compose(text: str, file: str) -> Tree:
    """Read one YAML document; problems (syntax, tags, duplicate keys) are left in ``.problems``."""
    tree = Tree(file)
    try:
        deep = _too_deep(text, file)
        if deep is not None:
            tree.problems.append(deep)
            return tree
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:
        tree.problems.append(_yaml_problem(file, text, exc))
        return tree
    try:
        root = loader.get_single_node()
        if root is None:
            tree.problems.append(Problem(Location(file, 1, 1), "", "the descriptor is empty"))
        else:
            tree.value = _Walker(tree, loader).walk(root, ())
    except yaml.YAMLError as exc:
        tree.problems.append(_yaml_problem(file, text, exc))
    finally:
        loader.dispose()
    return tree


class _Walker:
    def __init__(self, tree: Tree, loader: yaml.SafeLoader) -> None:
        self.tree = tree
        self.loader = loader
        self.active: set[int] = set()  # ids of the collections on the current path (alias loops)
        self.visited = 0

    def _problem(self, path: FieldPath, location: Location | None, message: str) -> None:
        self.tree.problems.append(Problem(location, format_path(path), message))
        self.tree.broken.add(path)

    def walk(self, node: Node, path: FieldPath) -> object:
        here = _mark_location(self.tree.file, node.start_mark)
        self.tree.values[path] = here or Location(self.tree.file, 1, 1)
        self.visited += 1
        if self.visited == MAX_NODES:
            self._problem(path, here, "the document is too large (too many aliased values)")
        if self.visited >= MAX_NODES:
            return None
        if len(path) > MAX_DEPTH:
            self._problem(path, here, "the document is nested too deeply")
            return None
        if isinstance(node, ScalarNode):
            return self._scalar(node, path, here)
        if id(node) in self.active:
            self._problem(path, here, "a YAML alias refers to a value that contains it")
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, MappingNode) and node.tag == _MAP_TAG:
                return self._mapping(node, path)
            if isinstance(node, SequenceNode) and node.tag == _SEQ_TAG:
                return [self.walk(item, (*path, i)) for i, item in enumerate(node.value)]
            self._problem(path, here, f"unsupported YAML tag {node.tag!r}")
            return None
        finally:
            self.active.discard(id(node))

    def _scalar(self, node: ScalarNode, path: FieldPath, here: Location | None) -> object:
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError:
            self._problem(path, here, f"unsupported YAML tag {node.tag!r}")
        except (ValueError, ArithmeticError, LookupError, AttributeError) as exc:
            # PyYAML's scalar constructors fail so on odd input: a number or date that does not
            # parse (ValueError, or ArithmeticError out of range), an explicit !!bool or
            # !!timestamp that matches no form (KeyError, AttributeError), "" as !!int (IndexError)
            reason = str(exc) or type(exc).__name__
            self._problem(path, here, f"cannot read the value {node.value[:40]!r}: {reason}")
        return None

    def _mapping(self, node: MappingNode, path: FieldPath) -> dict[str, object]:
        own = list(node.value)
        own_ids = {id(key_node) for key_node, _ in own}
        try:
            self.loader.flatten_mapping(node)  # resolves "<<" merge keys in place
        except yaml.YAMLError as exc:
            here = _mark_location(self.tree.file, node.start_mark)
            self._problem(path, here, f"cannot merge: {getattr(exc, 'problem', None) or exc}")
        merged = [pair for pair in node.value if id(pair[0]) not in own_ids]
        own = [pair for pair in node.value if id(pair[0]) in own_ids]
        own_names = {str(k.value) for k, _ in own if isinstance(k, ScalarNode)}
        result: dict[str, object] = {}
        # Merged-in fields: the later merge source wins (PyYAML orders them so), own fields win.
        winners = {str(k.value): (k, v) for k, v in merged if isinstance(k, ScalarNode)}
        for key, (key_node, value_node) in winners.items():
            if key not in own_names:
                result[key] = self._field(path, key, key_node, value_node)
        first_seen: dict[str, Location | None] = {}
        for key_node, value_node in own:
            key_at = _mark_location(self.tree.file, key_node.start_mark)
            if not isinstance(key_node, ScalarNode):
                self._problem(path, key_at, "field names must be plain strings")
                continue
            key = str(key_node.value)
            if key in first_seen:
                earlier = first_seen[key]
                line = f" (first given at line {earlier.line})" if earlier else ""
                self._problem((*path, key), key_at, f"duplicate field '{key}'{line}")
                continue
            first_seen[key] = key_at
            result[key] = self._field(path, key, key_node, value_node)
        return result

    def _field(self, path: FieldPath, key: str, key_node: Node, value_node: Node) -> object:
        sub = (*path, key)
        key_at = _mark_location(self.tree.file, key_node.start_mark)
        if key_at is not None:
            self.tree.keys[sub] = key_at
        return self.walk(value_node, sub)
