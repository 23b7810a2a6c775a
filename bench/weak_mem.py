"""weak_mem.py [N] - CPython's side of bench/weak_mem.c: the bytes one weak
reference and one weak-container entry take, measured with tracemalloc
(which counts what pymalloc and malloc hand out, per request)."""
import gc, json, sys, tracemalloc, weakref

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100000


class Item:
    __slots__ = ("__weakref__", "payload")


class Plain:
    __slots__ = ("payload",)


def measure(what, build):
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    keep = build()
    after = tracemalloc.get_traced_memory()[0]
    print(json.dumps({"system": "cpython", "what": what,
                      "requested_per_item": round((after - before) / N, 1)}))
    return keep


def cb(r):
    pass


def main():
    gc.disable()
    tracemalloc.start()
    objs = [Item() for _ in range(N)]
    measure("object without weak slot", lambda: [Plain() for _ in range(N)])
    measure("object with weak slot", lambda: [Item() for _ in range(N)])
    refs = measure("basic weak reference", lambda: [weakref.ref(o) for o in objs])
    del refs
    refs = measure("weak reference with callback", lambda: [weakref.ref(o, cb) for o in objs])
    del refs
    keys = [i.to_bytes(8, "little") for i in range(N)]  # keys exist beforehand in both

    def wvd():
        d = weakref.WeakValueDictionary()
        for k, o in zip(keys, objs):
            d[k] = o
        return d

    def ws():
        s = weakref.WeakSet()
        for o in objs:
            s.add(o)
        return s

    def wkd():
        d = weakref.WeakKeyDictionary()
        for i, o in enumerate(objs):
            d[o] = objs[(i + 1) % N]
        return d

    measure("weak-value map entry (8-byte key)", wvd)
    measure("weak set entry", ws)
    measure("weak-key map entry", wkd)


main()
