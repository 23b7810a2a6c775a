#!/usr/bin/env python3
"""check_layers.py - the library's layers point one way (docs/layout.md).

src/ has one folder per layer, lowest first:

    platform < mem < core < weak < trace < diag < serve

A file may include and call only its own layer and the layers below it.
Two checks, both over the whole library:

  includes  every #include "layer/file.h" in src/ names the file's own
            layer or a lower one; a public header of a higher layer
            (rcgc_trace.h, rcgc_diag.h, rcgc_serve.h) counts as that layer.
  calls     with --objects: every symbol an object file uses (nm's U) that
            another object file of the library defines belongs to the same
            or a lower layer.  This catches calls through the public API
            too (core calling rcgc_trace_stop), which includes cannot.
  pools     the pool allocator's layout (pm_pool, pm_arena, pm_block, the
            PM_* macros) is named only in src/mem/: the layers above ask
            mem/alloc_internal.h's functions (rcgc__pm_locate, ...).

Usage: check_layers.py SRC_DIR [--objects FILE.o ...]
       check_layers.py --self-test     (the checker on trees made to fail)
Exit status 0 when the layers hold, 1 with one line per violation.
"""
import os
import re
import subprocess
import sys
import tempfile

LAYERS = ["platform", "mem", "core", "weak", "trace", "diag", "serve"]
RANK = {name: i for i, name in enumerate(LAYERS)}
# Public headers that belong to a layer above the lowest that may use them.
PUBLIC = {"rcgc_trace.h": "trace", "rcgc_diag.h": "diag", "rcgc_serve.h": "serve"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_of(rel):
    """The layer of a path relative to src/, or None if it is outside."""
    head = rel.split("/", 1)[0]
    return head if head in RANK else None


def source_files(src):
    for root, _, files in os.walk(src):
        for name in sorted(files):
            if name.endswith((".c", ".h")):
                path = os.path.join(root, name)
                yield os.path.relpath(path, src), path


def check_includes(src):
    errors = []
    for rel, path in source_files(src):
        own = layer_of(rel)
        if own is None:
            if rel.endswith(".c") and rel != "rcgc_all.c":
                errors.append(f"src/{rel}: not in a layer folder ({', '.join(LAYERS)})")
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for m in INCLUDE.finditer(text):
            inc = m.group(1)
            target = PUBLIC.get(inc) or layer_of(inc)
            if target is not None and RANK[target] > RANK[own]:
                line = text.count("\n", 0, m.start()) + 1
                errors.append(f"src/{rel}:{line}: {own} includes \"{inc}\" "
                              f"of the higher layer {target}")
    return errors


POOL_NAMES = re.compile(r"\b(pm_pool|pm_arena|pm_block|PM_[A-Z0-9_]+)\b")


def check_pools(src):
    errors = []
    for rel, path in source_files(src):
        if layer_of(rel) in (None, "mem"):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                m = POOL_NAMES.search(line)
                if m:
                    errors.append(f"src/{rel}:{n}: names the pool allocator's "
                                  f"layout ({m.group(1)}) outside src/mem/")
    return errors


def nm_symbols(obj):
    out = subprocess.run(["nm", obj], capture_output=True, text=True, check=True).stdout
    defined, used = set(), set()
    for line in out.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[1] in "TDBRVW":
            defined.add(fields[2])
        elif len(fields) == 2 and fields[0] == "U":
            used.add(fields[1])
    return defined, used


def object_layer(obj):
    """rcgc_objects.dir/src/core/collect.c.o -> ("core", "core/collect.c")"""
    norm = obj.replace(os.sep, "/")
    if "/src/" not in norm:
        return None, None
    rel = norm.rsplit("/src/", 1)[1]
    if rel.endswith(".o"):
        rel = rel[:-2]
    return layer_of(rel), rel


def check_calls(objects):
    errors, owner, uses = [], {}, []
    for obj in objects:
        layer, rel = object_layer(obj)
        if layer is None:
            continue
        defined, used = nm_symbols(obj)
        for sym in defined:
            owner[sym] = (layer, rel)
        uses.append((layer, rel, used))
    if not uses:
        errors.append("no object file of src/ was given: nothing was checked")
    for layer, rel, used in uses:
        for sym in sorted(used):
            if sym in owner and RANK[owner[sym][0]] > RANK[layer]:
                errors.append(f"src/{rel}: {layer} calls {sym} of the higher "
                              f"layer {owner[sym][0]} (src/{owner[sym][1]})")
    return errors


def self_test():
    """The checker must fail on an upward include and on an upward call."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "src")
        for d in ("mem", "serve"):
            os.makedirs(os.path.join(src, d))
        with open(os.path.join(src, "serve", "s.h"), "w") as f:
            f.write("int serve_thing(void);\n")
        with open(os.path.join(src, "serve", "s.c"), "w") as f:
            f.write('#include "serve/s.h"\nint serve_thing(void) { return 1; }\n')
        with open(os.path.join(src, "mem", "m.c"), "w") as f:
            f.write('#include "serve/s.h"\nint mem_thing(void);\n'
                    'int mem_thing(void) { return serve_thing(); }\n')
        with open(os.path.join(src, "serve", "p.h"), "w") as f:
            f.write("#define X(p) ((pm_pool *)(p))\n")
        inc = check_includes(src)
        pools = check_pools(src)
        objs = []
        for rel in ("mem/m.c", "serve/s.c"):
            obj = os.path.join(src, rel + ".o")
            subprocess.run(["cc", "-c", "-I", src, os.path.join(src, rel), "-o", obj],
                           check=True)
            objs.append(obj)
        calls = check_calls(objs)
    ok = (len(inc) == 1 and "mem includes \"serve/s.h\"" in inc[0] and
          len(calls) == 1 and "mem calls serve_thing" in calls[0] and
          len(pools) == 1 and "serve/p.h:1" in pools[0])
    print("self-test:", "ok" if ok else "FAILED", inc, calls, pools)
    return 0 if ok else 1


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    src = argv[1]
    objects = argv[argv.index("--objects") + 1:] if "--objects" in argv else []
    errors = check_includes(src) + check_pools(src)
    if "--objects" in argv:
        errors += check_calls(objects)
    for e in errors:
        print(e)
    nfiles = sum(1 for _ in source_files(src))
    print(f"layers: {nfiles} files, {len(objects)} object files, "
          f"{len(errors)} violations")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
