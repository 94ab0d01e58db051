"""Registering a feature in the factory: one import line and one FEATURES entry.

The factory is edited as text, guided by its syntax tree, so everything else in it
(comments, order, formatting) stays as written.
"""

import ast


class RegistrationError(Exception):
    """The factory does not have the shape the edit relies on."""


def _features_assignment(tree):
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "FEATURES"
        ):
            return node
    raise RegistrationError("it has no `FEATURES = [...]` assignment")


def _features_lines(lines, node, blueprint):
    """The FEATURES list with ``blueprint`` appended, one entry a line."""
    if not isinstance(node.value, ast.List) or not all(
        isinstance(element, ast.Name) for element in node.value.elts
    ):
        raise RegistrationError("FEATURES is not a list of names")
    entries = [element.id for element in node.value.elts]
    if blueprint in entries:
        raise RegistrationError(f"{blueprint} is already in FEATURES")
    if lines[node.end_lineno - 1][node.end_col_offset :].strip():
        raise RegistrationError("something follows the FEATURES list on its line")
    statement = "".join(lines[node.lineno - 1 : node.end_lineno])
    if node.col_offset != 0 or "#" in statement:
        raise RegistrationError("FEATURES holds comments; add the entry by hand")
    body = "".join(f"    {entry},\n" for entry in entries + [blueprint])
    return [f"FEATURES = [\n{body}]\n"]


def register(source, name):
    """``source`` (myapp/__init__.py) with feature ``name``'s blueprint registered.

    The import goes where an isort-ordered block of relative imports wants it; the
    FEATURES list is written one entry a line, the new one last.
    """
    blueprint = f"{name}_blueprint"
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    features = _features_assignment(tree)
    relative_imports = [
        node
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.level == 1
    ]
    if not relative_imports or relative_imports[-1].lineno > features.lineno:
        raise RegistrationError("its relative imports do not all precede FEATURES")
    lines[features.lineno - 1 : features.end_lineno] = _features_lines(
        lines, features, blueprint
    )
    import_line = f"from .{name} import blueprint as {blueprint}\n"
    following = [node for node in relative_imports if (node.module or "") > name]
    if following:
        at = following[0].lineno - 1
    else:
        at = relative_imports[-1].end_lineno
    lines.insert(at, import_line)
    return "".join(lines)
