#!/usr/bin/env python3
"""Moves items out of grouped imports: in `use ROOT::{a, b::c, d}`, the items matching
--items go to an import of their own under --to, the rest stay (for real-crates.sh's switches:
`use std::{collections::HashMap, sync::{Arc, Mutex}};` becomes `use std::{collections::HashMap};`
and `use lockdep::{stdsync::{Arc, Mutex}};`).

  split_use.py --root std --items 'sync|thread' --to lockdep \
      --rename '^sync$=stdsync as sync' --rename '^sync\\b=stdsync' FILE...

Each --rename PATTERN=REPLACEMENT is applied (re.sub, in order, first match wins) to a moved
item. A group in a comment (a doc example's `//! use std::{future, sync::Arc};`) keeps the line's
comment marker on the import it gains, or is left alone with --code-only (the std switch keeps
comments as they are). Files are rewritten in place."""
import argparse
import re


def items_of(body):
    """A use group's items, split at its top-level commas."""
    items, depth, cur = [], 0, ""
    for ch in body:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            items.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return [i for i in items + [cur.strip()] if i]


def split(text, root, items, to, renames, code_only=False):
    def moved(x):
        for pat, rep in renames:
            if re.search(pat, x):
                return re.sub(pat, rep, x)
        return x

    out, pos = "", 0
    for m in re.finditer(r"\b(pub(?:\([^)]*\))? )?use (::)?" + re.escape(root) + r"::\{", text):
        if m.start() < pos:
            continue
        # the line up to the `use`: indentation, and a comment marker if the line is a comment
        prefix = text[text.rfind("\n", 0, m.start()) + 1:m.start()]
        comment = re.fullmatch(r"[ \t]*//[/!]?[ \t]*", prefix)
        if comment and code_only:
            continue
        depth, end = 1, m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            end += 1
        group = items_of(text[m.end():end - 1])
        ours = [x for x in group if re.match(r"(" + items + r")\b", x)]
        if not ours:
            continue
        vis, colons = m.group(1) or "", m.group(2) or ""
        rest = [x for x in group if x not in ours]
        new = f"{vis}use {colons}{to}::{{{', '.join(moved(x) for x in ours)}}}"
        if rest:
            indent = prefix if comment else re.search(r"[ \t]*$", prefix).group(0)
            new = f"{vis}use {colons}{root}::{{{', '.join(rest)}}};\n{indent}{new}"
        out += text[pos:m.start()] + new
        pos = end
    return out + text[pos:]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--root", required=True)
    p.add_argument("--items", required=True)
    p.add_argument("--to", required=True)
    p.add_argument("--rename", action="append", default=[])
    p.add_argument("--then", action="append", default=[],
                   help="PATTERN=REPLACEMENT applied to the whole file afterwards")
    p.add_argument("--code-only", action="store_true", help="leave groups in comments alone")
    p.add_argument("files", nargs="+")
    a = p.parse_args()
    renames = [tuple(r.split("=", 1)) for r in a.rename]
    thens = [tuple(r.split("=", 1)) for r in a.then]
    for path in a.files:
        text = split(open(path).read(), a.root, a.items, a.to, renames, a.code_only)
        for pat, rep in thens:
            text = re.sub(pat, rep, text)
        open(path, "w").write(text)


if __name__ == "__main__":
    main()
