"""Python source for the declarations the scaffold writes, as black would lay it out."""

import json

LINE_LENGTH = 88


def literal(value, indent=0, prefix="", suffix=""):
    """``prefix + value + suffix`` as source lines at ``indent`` spaces.

    One line when it fits in 88 columns; otherwise exploded one item a line with a
    trailing comma (black's magic trailing comma keeps it so).
    """
    pad = " " * indent
    flat = f"{pad}{prefix}{_flat(value)}{suffix}"
    if len(flat) <= LINE_LENGTH or not isinstance(value, (dict, list, tuple)):
        return [flat]
    opener, closer = ("{", "}") if isinstance(value, dict) else ("[", "]")
    if isinstance(value, tuple):
        opener, closer = "(", ")"
    lines = [f"{pad}{prefix}{opener}"]
    items = value.items() if isinstance(value, dict) else ((None, v) for v in value)
    for key, item in items:
        head = "" if key is None else f"{_flat(key)}: "
        lines += literal(item, indent + 4, head, ",")
    lines.append(f"{pad}{closer}{suffix}")
    return lines


def _flat(value):
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"{_flat(k)}: {_flat(v)}" for k, v in value.items()) + "}"
        )
    if isinstance(value, tuple):
        inner = ", ".join(_flat(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return "[" + ", ".join(_flat(v) for v in value) + "]"
