"""CPython oracle for scenario format version 2.

Imported by oracle.py when a file's first operation line is `version 2`
(../../../shared/spec/scenario-format-v2.md, "the contract").  Same output,
same error conventions as version 1 (oracle.py's docstring); the version-2
error texts are listed in README.md ("Version 2").

Implemented: every operation of the contract: the version-1 operations with
their v2 forms (new options fin=/del=/untracked, weak ... plain, unsave
NAME, referrers of weak references, freeze resetting the counts), family A
(auto, threshold, count), family G (del=, garbage, ungarbage, saveall), gc
callbacks (gccb), introspection (weakrefs, weakcount, callback, same, gen,
finalized, tracked, frozen, referents), `ordered`, weak containers and
their iterators (wvd, wkd, wset, put, add, del, discard, get, has, len,
items, clear, iter, next), weak methods (wmethod), finalize objects
(finalize, call, detach, peek, alive), and every action of section 5 for
fin=, del=, cb= and fn=.

How the contract's section 7 is kept:

- CPython's automatic collection stays disabled.  The oracle keeps C0..C2,
  LLT and LLP itself: alloc() adds 1 to C0 before each scenario object is
  made and runs the automatic collection there (rule 2); frees are seen by a
  hook in the tp_free slot of every scenario type (ctypes), at the moment
  CPython frees the object, children first (rule 5).
- Every collection goes through Runner.collect(g), which applies rule 4's
  count changes, counts the scenario objects in generations 0..g
  (gc.get_objects) and the objects found unreachable (gc.DEBUG_COLLECTABLE and
  DEBUG_UNCOLLECTABLE print one line each to sys.stderr, which the oracle
  replaces by a counter), and updates LLT / LLP with S = young - unreachable.
- Untracked nodes: CPython 3.11 makes every class a GC type, so the oracle
  makes one and clears Py_TPFLAGS_HAVE_GC (and sets tp_free to PyObject_Free)
  before any instance exists: instances are then plain non-GC objects, as a C
  extension type without Py_TPFLAGS_HAVE_GC.
- Legacy finalizers: _testcapi.with_tp_del (tp_del calling __tp_del__).
- Weak containers, weak methods and finalize objects are the oracle's own
  classes running CPython 3.11's weakref.py algorithms on the contract's
  objects only (contract 6.1): see the comments at Cont, WMethod, FinObj.
  Their weak references are real weakref.ref subclasses, so clearing,
  callback order, getweakrefs order and the collector's handling of them
  are CPython's own.
"""

import ctypes
import gc
import re
import sys
import weakref

import _testcapi

NAME_RE = re.compile(r'[A-Za-z_][A-Za-z0-9_]{0,63}')
T_RE = re.compile(r'0|[1-9][0-9]{0,9}')
BAD_BYTE_RE = re.compile(rb'[^\x21-\x7e]')
QUOTE_MAX = 64

ARITY = {
    'new': (1, 4), 'link': (2, 2), 'unlink': (2, 2), 'clear': (1, 1),
    'drop': (1, 1), 'weak': (2, 3), 'deref': (1, 1), 'collect': (0, 1),
    'freeze': (0, 0), 'unfreeze': (0, 0), 'saved': (0, 0), 'unsave': (0, 1),
    'referrers': (1, 1), 'stats': (0, 0),
    'auto': (1, 1), 'threshold': (3, 3), 'count': (0, 0),
    'garbage': (0, 0), 'ungarbage': (0, 1), 'saveall': (1, 1),
    'weakrefs': (1, 1), 'weakcount': (1, 1), 'callback': (1, 1),
    'same': (2, 2), 'gen': (1, 1), 'finalized': (1, 1), 'tracked': (1, 1),
    'frozen': (0, 0), 'referents': (1, 1), 'gccb': (1, 1),
    'ordered': (1, None),
    'wvd': (1, 1), 'wkd': (1, 1), 'wset': (1, 1), 'put': (3, 3),
    'add': (2, 2), 'del': (2, 2), 'discard': (2, 2), 'get': (2, 2),
    'has': (2, 2), 'len': (1, 1), 'items': (1, 1), 'iter': (2, 2),
    'next': (1, 1), 'wmethod': (3, 4), 'finalize': (2, 3), 'call': (1, 1),
    'detach': (1, 1), 'peek': (1, 1), 'alive': (1, 1),
}

# hook -> (event word, collect event word, kind in messages, words allowed)
HOOKS = {
    'fin': ('fin', 'fincollect', 'finalizer',
            ('log', 'resurrect', 'clear', 'collect', 'drop', 'new', 'deref',
             'weak', 'weakcb')),
    'del': ('del', 'delcollect', 'legacy finalizer',
            ('log', 'resurrect', 'clear', 'collect', 'drop', 'new', 'deref',
             'weak', 'weakcb')),
    'cb': ('cb', 'cbcollect', 'callback',
           ('log', 'collect', 'drop', 'new', 'deref')),
    'fn': ('fn', 'fncollect', 'finalize function',
           ('log', 'collect', 'drop', 'new', 'deref')),
}
NAMED = ('drop', 'new', 'weak', 'weakcb')   # WORD:NAME modes


class ScenarioError(Exception):
    """A bad line: WHAT is the message after 'error: '."""


def quote(text):
    if len(text) > QUOTE_MAX:
        text = text[:QUOTE_MAX] + '...'
    return "'" + text + "'"


def arity_text(fewest, most):
    if most is None:
        return 'at least %d argument%s' % (fewest, '' if fewest == 1 else 's')
    if most == 0:
        return 'no arguments'
    if fewest == most:
        return '1 argument' if most == 1 else '%d arguments' % most
    if most == fewest + 1:
        return '%d or %d arguments' % (fewest, most)
    return '%d to %d arguments' % (fewest, most)


def check_name(text):
    if NAME_RE.fullmatch(text) is None:
        raise ScenarioError('bad name ' + quote(text))
    return text


def split_mode(text):
    """A checked MODE string -> (word, arg1, arg2)."""
    word, _, rest = text.partition(':')
    a, _, b = rest.partition(':')
    return word, a or None, b or None


def parse_mode(text, hook):
    """Check MODE text (after 'fin=' etc.); return it.  Modes are kept as
    str, never as tuples: a tuple in a node's slot would be a tracked object
    of the graph."""
    kind, allowed = HOOKS[hook][2], HOOKS[hook][3]
    word, sep, rest = text.partition(':')
    if word not in allowed or (word in NAMED + ('deref',)) != bool(sep):
        raise ScenarioError('unknown %s mode %s' % (kind, quote(text)))
    if word == 'deref':
        w, sep2, root = rest.partition(':')
        check_name(w)
        if sep2:
            check_name(root)
    elif sep:
        check_name(rest)
    return text


def parse_onoff(token):
    if token not in ('on', 'off'):
        raise ScenarioError('expected on or off, got ' + quote(token))
    return token == 'on'


def parse_threshold(token):
    if T_RE.fullmatch(token) is None or int(token) > 2147483647:
        raise ScenarioError('bad threshold ' + quote(token))
    return int(token)


def parse_op(words):
    """words (str) -> (op, args); syntax only."""
    op, args = words[0], words[1:]
    if op == 'version':
        raise ScenarioError("unexpected 'version' line")
    if op not in ARITY:
        raise ScenarioError('unknown operation ' + quote(op))
    fewest, most = ARITY[op]
    if len(args) < fewest or (most is not None and len(args) > most):
        raise ScenarioError('%s takes %s, got %d'
                            % (quote(op), arity_text(fewest, most), len(args)))
    if op == 'ordered':
        if args[0] == 'ordered':
            raise ScenarioError("'ordered' cannot be nested")
        return op, parse_op(args)
    if op == 'new':
        name = check_name(args[0])
        fin = dmode = None
        untracked = False
        seen = set()
        for tok in args[1:]:
            if tok == 'untracked':
                key = 'untracked'
            elif tok.startswith('fin='):
                key = 'fin'
            elif tok.startswith('del='):
                key = 'del'
            else:
                raise ScenarioError('unknown option ' + quote(tok))
            if key in seen:
                raise ScenarioError('duplicate option ' + quote(tok))
            seen.add(key)
            if key == 'untracked':
                untracked = True
            elif key == 'fin':
                fin = parse_mode(tok[4:], 'fin')
            else:
                dmode = parse_mode(tok[4:], 'del')
        if untracked:
            for m in (fin, dmode):
                if m is not None and split_mode(m)[0] in ('weak', 'weakcb'):
                    raise ScenarioError('an untracked node cannot have mode '
                                        + quote(m))
        return op, (name, fin, dmode, untracked)
    if op == 'weak':
        wname, target = check_name(args[0]), check_name(args[1])
        cb, plain = None, False
        if len(args) == 3:
            if args[2] == 'plain':
                plain = True
            elif args[2].startswith('cb='):
                cb = parse_mode(args[2][3:], 'cb')
            else:
                raise ScenarioError('expected cb=MODE or plain, got '
                                    + quote(args[2]))
        return op, (wname, target, cb, plain)
    if op == 'wmethod':
        names = tuple(check_name(a) for a in args[:3])
        cb = None
        if len(args) == 4:
            if not args[3].startswith('cb='):
                raise ScenarioError('expected cb=MODE, got ' + quote(args[3]))
            cb = parse_mode(args[3][3:], 'cb')
        return op, names + (cb,)
    if op == 'finalize':
        names = tuple(check_name(a) for a in args[:2])
        fn = 'log'
        if len(args) == 3:
            if not args[2].startswith('fn='):
                raise ScenarioError('expected fn=MODE, got ' + quote(args[2]))
            fn = parse_mode(args[2][3:], 'fn')
        return op, names + (fn,)
    if op == 'collect':
        if args and args[0] not in ('0', '1', '2'):
            raise ScenarioError('bad generation ' + quote(args[0]))
        return op, (int(args[0]) if args else 2,)
    if op in ('auto', 'saveall', 'gccb'):
        return op, (parse_onoff(args[0]),)
    if op == 'threshold':
        return op, tuple(parse_threshold(a) for a in args)
    if op in ('unsave', 'ungarbage'):
        return op, (check_name(args[0]) if args else None,)
    return op, tuple(check_name(a) for a in args)


# ---------------------------------------------------------------------------
# ctypes plumbing

_P = ctypes.c_void_p
_API = ctypes.pythonapi
_TP_FLAGS = 21          # word index of tp_flags in PyTypeObject (3.11, 64-bit)
_TP_FREE = 40           # word index of tp_free
_HAVE_GC = 1 << 14
_GC_DEL = ctypes.cast(_API.PyObject_GC_Del, _P).value
_OBJ_FREE = ctypes.cast(_API.PyObject_Free, _P).value
_GC_Del = _API.PyObject_GC_Del
_GC_Del.argtypes = [_P]
_GC_Del.restype = None
_FREEFUNC = ctypes.CFUNCTYPE(None, _P)


def _type_words(tp):
    return (_P * 48).from_address(id(tp))


def _set_free(tp, func_addr, expect):
    words = _type_words(tp)
    if words[_TP_FREE] != expect:
        raise RuntimeError('unexpected tp_free in ' + tp.__name__)
    words[_TP_FREE] = func_addr


def _make_non_gc(tp):
    """Turn a fresh heap type (no instance yet) into a non-GC type."""
    flags = ctypes.c_ulong.from_address(id(tp) + 8 * _TP_FLAGS)
    flags.value &= ~_HAVE_GC
    _set_free(tp, _OBJ_FREE, _GC_DEL)


# ---------------------------------------------------------------------------
# The object model

class Node(list):
    """A tracked node; fin and dmode are parsed modes or None."""
    __slots__ = ('__weakref__', 'name', 'fin', 'dmode')

    def __del__(self):
        if self.fin is not None:
            _R.action('fin', self, self.name, self.fin)


class DelNode(Node):
    """A tracked node with a legacy finalizer (tp_del)."""
    __slots__ = ()

    def __tp_del__(self):
        _R.action('del', self, self.name, self.dmode)


_testcapi.with_tp_del(DelNode)


class UNode:
    """An untracked node (non-GC type, see the module doc); its name and
    modes live in Runner.unodes, keyed by id."""
    __slots__ = ()

    def __del__(self):
        name, fin, _ = _R.unodes[id(self)]
        if fin is not None:
            _R.action('fin', self, name, fin)


class UDelNode(UNode):
    __slots__ = ()

    def __tp_del__(self):
        name, _, dmode = _R.unodes[id(self)]
        _R.action('del', self, name, dmode)


_testcapi.with_tp_del(UDelNode)
_make_non_gc(UNode)
_make_non_gc(UDelNode)


class Ref(weakref.ref):
    """A weak reference made by `weak` (never the shared basic one)."""
    __slots__ = ('name', 'mode')


def _weak_callback(ref):
    _R.action('cb', ref, ref.name, ref.mode)


NODE_TYPES = (Node, DelNode)
UNODE_TYPES = (UNode, UDelNode)
PlainRef = weakref.ref


# -- weak containers (contract 4.4, 6.2-6.5) ------------------------------
#
# CPython 3.11's weakref.py algorithms (pending-removal lists, commit points,
# len) on the contract's objects only: a container is one scenario object
# (Cont) plus one weak reference per entry (ERef).  The container's state
# lives in its slots; slots are cleared in sorted name order when it dies,
# so 'data' goes first: its dict releases the entries first inserted first
# (weak-value dict: key token, then the ERef; weak-key dict and weak set: an
# _Entry whose slots release the ERef, then the value).  An ERef reaches its
# container through the container's basic weak reference ('owner', as
# CPython's selfref), so no reference cycle exists among these objects and
# no entry callback does anything once the container is dying.

class Cont:
    """A weak-value dict ('wvd'), weak-key dict ('wkd') or weak set."""
    __slots__ = ('__weakref__', 'data', 'dirty', 'epoch', 'index', 'iters',
                 'kind', 'name', 'pending', 'seq')


class _Entry:
    """A weak-key dict or weak set entry: 'ref' is released before
    'value' (sorted slot order)."""
    __slots__ = ('ref', 'value')


class ERef(weakref.ref):
    """The weak reference of a container entry (D:KEY, D:K, S:N)."""
    __slots__ = ('name', 'owner', 'key', 'seq')


def _entry_callback(ref):
    cont = ref.owner()
    if cont is not None:
        _R.entry_died(cont, ref)


# -- weak methods (contract 4.5, 6.6) --------------------------------------

class WMethod(weakref.ref):
    """weakref.WeakMethod for (OBJ, FUNC): a weak reference to OBJ owning
    'fref', its weak reference to FUNC.  'flag' (a bytearray, untracked) is
    CPython's _alive, shared with fref."""
    __slots__ = ('name', 'mode', 'fref', 'flag')


class FuncRef(weakref.ref):
    """W:func, the weak method's weak reference to its function."""
    __slots__ = ('name', 'wname', 'mode', 'flag')


def _wmethod_callback(ref):
    # CPython's WeakMethod._cb: once, at the first death of the two
    if ref.flag[0]:
        ref.flag[0] = 0
        if ref.mode is not None:
            _R.action('cb', ref, ref.wname if type(ref) is FuncRef
                      else ref.name, ref.mode)


# -- finalize objects (contract 4.6) ---------------------------------------

class FinObj:
    """weakref.finalize: the callback of its weak reference F:ref; the
    registry (Runner.registry, as finalize._registry) maps it to F:ref."""
    __slots__ = ('name', 'mode')

    def __call__(self, _=None):
        _R.fire(self)


class FinRef(weakref.ref):
    """F:ref, a finalize object's weak reference (its callback is F)."""
    __slots__ = ('name',)


class _Iter:
    """An iteration over a weak dict (contract 6.5): a runner structure,
    not a scenario object.  'cont' is held while it is active; 'key' and
    'value' are the entry it stands on.  Its end (next finds no more
    entries, or the last reference to it goes) is Runner.end_iter."""
    __slots__ = ('active', 'cont', 'epoch', 'key', 'name', 'pos',
                 'snap', 'value')

    def __del__(self):
        if self.active:
            _R.end_iter(self)


NAMED_TYPES = frozenset((Node, DelNode, Ref, ERef, WMethod, FuncRef, FinRef,
                         Cont, FinObj))
SCENARIO_TYPES = NAMED_TYPES
WEAK_TYPES = (Ref, WMethod)            # bindable weak references


class _StderrCounter:
    """sys.stderr while the oracle runs: counts the collector's debug lines
    (one per object found unreachable), passes anything else through."""

    def __init__(self, real, echo):
        self.real = real
        self.echo = echo
        self.unreachable = 0

    def write(self, text):
        if text.startswith('gc: collectable <') or \
                text.startswith('gc: uncollectable <'):
            self.unreachable += 1
            if self.echo:
                self.real.write(text)
        else:
            self.real.write(text)
        return len(text)

    def flush(self):
        self.real.flush()


# ---------------------------------------------------------------------------
# The runner

class Runner:

    def __init__(self):
        self.roots = {}
        self.saved = []
        self.events = []
        self.line = 0
        self.base_stats = None
        self.plain = {}          # id -> name of plain (basic) references
        self.unodes = {}         # id -> (name, fin, dmode) of untracked nodes
        self.live = set()        # ids of live scenario objects
        self.count = [0, 0, 0]
        self.threshold = [700, 10, 10]
        self.llt = 0
        self.llp = 0
        self.auto = False
        self.collecting = False
        self.gccb = False
        self.saveall = False
        self.ordered = None      # None, or [events so far, collections]
        self.counter = None
        self.hooks = []
        self.registry = {}       # finalize object -> F:ref (registered)

    # -- events --------------------------------------------------------------

    def emit(self, text):
        if self.ordered is not None:
            self.ordered[0] += 1
            text = '@%d %s' % (self.ordered[0], text)
        self.events.append('%d %s' % (self.line, text))

    # -- names ---------------------------------------------------------------

    def name_of(self, obj):
        t = type(obj)
        if t in NAMED_TYPES:
            return obj.name
        if t in UNODE_TYPES:
            return self.unodes[id(obj)][0]
        return self.plain.get(id(obj), '?')

    def is_weak(self, obj):
        t = type(obj)
        return t in WEAK_TYPES or (t is PlainRef and id(obj) in self.plain)

    def is_scenario(self, obj):
        t = type(obj)
        return t in SCENARIO_TYPES or \
            (t is PlainRef and id(obj) in self.plain)

    # -- counters (contract section 7) ------------------------------------

    def on_free(self, addr):
        """tp_free hook of every scenario type (and of weakref.ref)."""
        if addr in self.live:
            self.live.discard(addr)
            self.plain.pop(addr, None)
            if self.count[0] > 0:
                self.count[0] -= 1

    def alloc(self):
        """One scenario object is about to be made (rule 1 and 2)."""
        self.count[0] += 1
        if self.auto and self.threshold[0] != 0 and \
                self.count[0] > self.threshold[0] and not self.collecting:
            for i in (2, 1, 0):
                if self.count[i] > self.threshold[i]:
                    if i == 2 and self.llp < self.llt // 4:
                        continue
                    self.collect(i)
                    break

    def young(self, generation):
        n = 0
        for i in range(generation + 1):
            for obj in gc.get_objects(i):
                if self.is_scenario(obj):
                    n += 1
        return n

    def collect(self, generation):
        """Every collection (rule 4); returns gc.collect's result."""
        if self.collecting:
            return 0
        if self.ordered is not None:
            self.ordered[1] += 1
        if generation < 2:
            self.count[generation + 1] += 1
        for i in range(generation + 1):
            self.count[i] = 0
        young = self.young(generation)
        counter = self.counter
        before = counter.unreachable
        self.collecting = True
        try:
            n = gc.collect(generation)
        finally:
            self.collecting = False
        s = young - (counter.unreachable - before)
        if generation == 1:
            self.llp += s
        elif generation == 2:
            self.llp = 0
            self.llt = s
        return n

    def gc_callback(self, phase, info):
        if self.gccb:
            g = info['generation']
            if phase == 'start':
                self.emit('gcstart %d' % g)
            else:
                self.emit('gcstop %d %d %d' % (g, info['collected'],
                                                info['uncollectable']))

    # -- making objects ------------------------------------------------------

    def make_node(self, name, fin, dmode):
        self.alloc()
        node = (DelNode if dmode is not None else Node)()
        node.name = name
        node.fin = fin
        node.dmode = dmode
        self.live.add(id(node))
        return node

    def make_unode(self, name, fin, dmode):
        node = (UDelNode if dmode is not None else UNode)()
        self.unodes[id(node)] = (name, fin, dmode)
        return node

    def make_ref(self, name, target, mode):
        self.alloc()
        ref = Ref(target, _weak_callback if mode is not None else None)
        ref.name = name
        ref.mode = mode
        self.live.add(id(ref))
        return ref

    def basic_ref(self, target):
        refs = weakref.getweakrefs(target)
        if refs and type(refs[0]) is PlainRef and refs[0].__callback__ is None:
            return refs[0]
        return None

    def make_plain(self, name, target):
        ref = self.basic_ref(target)
        if ref is None:
            self.alloc()
            ref = PlainRef(target)
            self.plain[id(ref)] = name
            self.live.add(id(ref))
        return ref

    # -- actions (section 5) -------------------------------------------------

    def deref_text(self, wname):
        ref = self.roots.get(wname)
        if ref is None or not self.is_weak(ref):
            return 'deref %s none' % wname, None
        obj = ref()
        if type(ref) is WMethod:
            func = ref.fref()
            if obj is None or func is None:
                return 'deref %s dead' % wname, None
            return 'deref %s %s %s' % (wname, self.name_of(obj),
                                       self.name_of(func)), obj
        if obj is None:
            return 'deref %s dead' % wname, None
        return 'deref %s %s' % (wname, self.name_of(obj)), obj

    def action(self, hook, obj, name, mode):
        word_event, collect_event = HOOKS[hook][0], HOOKS[hook][1]
        self.emit('%s %s' % (word_event, name))
        word, a, b = split_mode(mode)
        roots = self.roots
        if word == 'resurrect':
            self.saved.append(obj)
        elif word == 'clear':
            if type(obj) in NODE_TYPES:
                obj.clear()
        elif word == 'collect':
            self.emit('%s %s %d' % (collect_event, name, self.collect(2)))
        elif word == 'drop':
            if a in roots:
                del roots[a]
        elif word == 'new':
            if a not in roots:
                node = self.make_node(a, None, None)
                roots[a] = node
                del node
        elif word == 'deref':
            text, target = self.deref_text(a)
            self.emit(text)
            if target is not None and b is not None and b not in roots:
                roots[b] = target
            del target
        elif word in ('weak', 'weakcb'):
            if a not in roots:
                ref = self.make_ref(a, obj, 'log' if word == 'weakcb'
                                    else None)
                roots[a] = ref
                del ref

    # -- binding checks ------------------------------------------------------

    def bound(self, name):
        obj = self.roots.get(name)
        if obj is None:
            raise ScenarioError(quote(name) + ' is not bound')
        return obj

    def unbound(self, name):
        if name in self.roots:
            raise ScenarioError(quote(name) + ' is already bound')

    def any_node(self, name):
        obj = self.bound(name)
        if type(obj) not in NODE_TYPES and type(obj) not in UNODE_TYPES:
            raise ScenarioError(quote(name) + ' is not a node')
        return obj

    def node(self, name):
        obj = self.any_node(name)
        if type(obj) not in NODE_TYPES:
            raise ScenarioError(quote(name) + ' is not a tracked node')
        return obj

    def weak(self, name):
        obj = self.bound(name)
        if not self.is_weak(obj):
            raise ScenarioError(quote(name) + ' is not a weak reference')
        return obj

    def node_or_weak(self, name):
        obj = self.bound(name)
        t = type(obj)
        if t not in NODE_TYPES and t not in UNODE_TYPES and \
                not self.is_weak(obj):
            raise ScenarioError(quote(name) +
                                ' is not a node or a weak reference')
        return obj

    def not_iter(self, name):
        obj = self.bound(name)
        if type(obj) is _Iter:
            raise ScenarioError(quote(name) + ' is an iterator')
        return obj

    def cont(self, name, kinds, what):
        obj = self.bound(name)
        if type(obj) is not Cont or obj.kind not in kinds:
            raise ScenarioError('%s is not %s' % (quote(name), what))
        return obj

    def finobj(self, name):
        obj = self.bound(name)
        if type(obj) is not FinObj:
            raise ScenarioError(quote(name) + ' is not a finalize object')
        return obj

    # -- operations ----------------------------------------------------------

    def op_new(self, name, fin, dmode, untracked):
        self.unbound(name)
        if untracked:
            node = self.make_unode(name, fin, dmode)
        else:
            node = self.make_node(name, fin, dmode)
        self.roots[name] = node

    def op_link(self, src, dst):
        node = self.node(src)
        node.append(self.node_or_weak(dst))

    def op_unlink(self, src, dst):
        node = self.node(src)
        target = self.bound(dst)
        for index in range(len(node)):
            if node[index] is target:
                del node[index]
                return

    def op_clear(self, src):
        obj = self.bound(src)
        if type(obj) is Cont:
            self.clear_cont(obj)
            return
        del obj
        node = self.node(src)
        node.clear()

    def op_drop(self, name):
        self.bound(name)
        del self.roots[name]

    def op_weak(self, wname, target, cb, plain):
        self.unbound(wname)
        obj = self.node(target)
        if plain:
            ref = self.make_plain(wname, obj)
        else:
            ref = self.make_ref(wname, obj, cb)
        self.roots[wname] = ref

    def op_deref(self, wname):
        self.weak(wname)
        text, obj = self.deref_text(wname)
        del obj
        self.emit(text)

    def op_collect(self, generation):
        self.emit('collect %d %d' % (generation, self.collect(generation)))

    def op_freeze(self):
        gc.freeze()
        self.count = [0, 0, 0]

    def op_unfreeze(self):
        gc.unfreeze()

    def op_saved(self):
        names = sorted(self.name_of(o) for o in self.saved)
        self.emit(' '.join(['saved'] + names))

    def take(self, lst, what, name):
        """unsave NAME / ungarbage NAME: move the one object named NAME."""
        self.unbound(name)
        hits = [i for i, o in enumerate(lst) if self.name_of(o) == name]
        if len(hits) != 1:
            raise ScenarioError('the %s list holds %d objects named %s'
                                % (what, len(hits), quote(name)))
        self.roots[name] = lst.pop(hits[0])

    def op_unsave(self, name):
        if name is None:
            self.saved.clear()
        else:
            self.take(self.saved, 'saved', name)

    def op_referrers(self, name):
        obj = self.node_or_weak(name)
        holders = gc.get_referrers(obj)
        names = [h.name for h in holders if type(h) in NODE_TYPES]
        del holders
        names.sort()
        self.emit(' '.join(['referrers', name] + names))

    def op_stats(self):
        now = gc.get_stats()
        fields = []
        for gen in range(3):
            for key in ('collections', 'collected'):
                fields.append(str(now[gen][key] - self.base_stats[gen][key]))
        self.emit('stats ' + ' '.join(fields))

    def op_auto(self, on):
        self.auto = on

    def op_threshold(self, t0, t1, t2):
        self.threshold = [t0, t1, t2]

    def op_count(self):
        self.emit('count %d %d %d' % tuple(self.count))

    def op_garbage(self):
        names = sorted(self.name_of(o) for o in gc.garbage)
        self.emit(' '.join(['garbage'] + names))

    def op_ungarbage(self, name):
        if name is None:
            gc.garbage.clear()
        else:
            self.take(gc.garbage, 'garbage', name)

    def op_saveall(self, on):
        self.saveall = on
        self.set_debug()

    def op_gccb(self, on):
        self.gccb = on

    def op_weakrefs(self, name):
        obj = self.node(name)
        names = [self.name_of(r) for r in weakref.getweakrefs(obj)]
        self.emit(' '.join(['weakrefs', name] + names))

    def op_weakcount(self, name):
        obj = self.node(name)
        self.emit('weakcount %s %d' % (name, weakref.getweakrefcount(obj)))

    def op_callback(self, name):
        ref = self.weak(name)
        if type(ref) is WMethod:
            raise ScenarioError(quote(name) + ' is not made by weak')
        self.emit('callback %s %s' % (
            name, 'none' if ref.__callback__ is None else 'yes'))

    def op_same(self, a, b):
        x, y = self.not_iter(a), self.not_iter(b)
        self.emit('same %s %s %s' % (a, b, 'yes' if x is y else 'no'))

    def generation_of(self, obj):
        if not gc.is_tracked(obj):
            return 'untracked'
        for i in range(3):
            for o in gc.get_objects(i):
                if o is obj:
                    return str(i)
        return 'frozen'

    def op_gen(self, name):
        obj = self.not_iter(name)
        self.emit('gen %s %s' % (name, self.generation_of(obj)))

    def op_finalized(self, name):
        obj = self.not_iter(name)
        yes = type(obj) in NODE_TYPES and obj.fin is not None and \
            gc.is_finalized(obj)
        self.emit('finalized %s %s' % (name, 'yes' if yes else 'no'))

    def op_tracked(self, name):
        obj = self.not_iter(name)
        self.emit('tracked %s %s' % (name, 'yes' if gc.is_tracked(obj)
                                     else 'no'))

    def op_frozen(self):
        self.emit('frozen %d' % (len(self.live) - self.young(2)))

    def op_referents(self, name):
        obj = self.any_node(name)
        if type(obj) in NODE_TYPES:
            names = sorted(self.name_of(o) for o in gc.get_referents(obj)
                           if self.is_scenario(o) or type(o) in UNODE_TYPES)
        else:
            names = []
        self.emit(' '.join(['referents', name] + names))

    def op_ordered(self, op, args):
        self.ordered = [0, 0]
        try:
            getattr(self, 'op_' + op)(*args)
            collections = self.ordered[1]
        finally:
            self.ordered = None
        if collections:
            raise ScenarioError('a collection ran during an ordered operation')

    # -- weak containers (contract 4.4, 6.2-6.5) -----------------------------

    def make_eref(self, cont, name, target, key):
        """One entry weak reference (an allocation, rule 1)."""
        self.alloc()
        ref = ERef(target, _entry_callback)
        ref.name = name
        ref.owner = weakref.ref(cont)
        ref.key = key
        ref.seq = 0
        self.live.add(id(ref))
        return ref

    def live_seq(self, cont, node):
        """The seq of NODE's live entry in a weak-key dict or weak set."""
        seq = cont.index.get(id(node))
        if seq is None:
            return None
        entry = cont.data.get(seq)
        ref = entry.ref if cont.kind == 'wkd' else entry
        if ref is None or ref() is not node:
            return None
        return seq

    def entry_died(self, cont, ref):
        """The callback of an entry's weak reference (CPython's remove)."""
        kind = cont.kind
        if kind != 'wvd' and cont.index.get(ref.key) == ref.seq:
            del cont.index[ref.key]
        if cont.iters:
            cont.pending.append(ref.key if kind == 'wvd' else ref)
        elif kind == 'wvd':
            self.remove_dead(cont, ref.key)
        else:
            cont.data.pop(ref.seq, None)

    def remove_dead(self, cont, key):
        """_weakref._remove_dead_weakref: only if the entry is dead."""
        ref = cont.data.get(key)
        if ref is not None and ref() is None:
            del cont.data[key]

    def commit(self, cont):
        """_commit_removals: pending entries, newest first."""
        pending = cont.pending
        if cont.kind == 'wvd':
            while pending:
                self.remove_dead(cont, pending.pop())
        else:
            while pending:
                ref = pending.pop()
                # weak-key dict: the entry's value, then its reference
                cont.data.pop(ref.seq, None)
                del ref

    def touch(self, cont):
        """An operation names CONT: other active iterators are invalid."""
        cont.epoch += 1

    def op_wvd(self, name):
        self.make_cont(name, 'wvd')

    def op_wkd(self, name):
        self.make_cont(name, 'wkd')

    def op_wset(self, name):
        self.make_cont(name, 'wset')

    def make_cont(self, name, kind):
        self.unbound(name)
        self.alloc()
        cont = Cont()
        cont.name = name
        cont.kind = kind
        cont.data = {}
        cont.index = {}
        cont.pending = []
        cont.iters = 0
        cont.epoch = 0
        cont.seq = 0
        cont.dirty = False
        self.live.add(id(cont))
        self.roots[name] = cont

    def op_put(self, dname, key, vname):
        cont = self.cont(dname, ('wvd', 'wkd'), 'a weak dict')
        if cont.kind == 'wvd':
            node = self.node(vname)
            self.touch(cont)
            if cont.pending:
                self.commit(cont)
            ref = self.make_eref(cont, cont.name + ':' + key, node, key)
            cont.data[key] = ref        # an old entry keeps its place
            return
        knode = self.node(key)
        value = self.node_or_weak(vname)
        self.touch(cont)
        ref = self.make_eref(cont, cont.name + ':' + knode.name, knode,
                             id(knode))
        seq = self.live_seq(cont, knode)
        if seq is not None:
            entry = cont.data[seq]
            entry.value = value         # the old value is released
            del entry, value
            del ref                     # then the new reference freed
            return
        cont.seq += 1
        ref.seq = cont.seq
        entry = _Entry()
        entry.ref = ref
        entry.value = value
        cont.data[cont.seq] = entry
        cont.index[id(knode)] = cont.seq

    def op_add(self, sname, nname):
        cont = self.cont(sname, ('wset',), 'a weak set')
        node = self.node(nname)
        self.touch(cont)
        if cont.pending:
            self.commit(cont)
        ref = self.make_eref(cont, cont.name + ':' + node.name, node,
                             id(node))
        if self.live_seq(cont, node) is None:
            cont.seq += 1
            ref.seq = cont.seq
            cont.data[cont.seq] = ref
            cont.index[id(node)] = cont.seq
        del ref

    def op_del(self, dname, key):
        cont = self.cont(dname, ('wvd', 'wkd'), 'a weak dict')
        if cont.kind == 'wvd':
            self.touch(cont)
            if cont.pending:
                self.commit(cont)
            cont.data.pop(key, None)
            return
        knode = self.node(key)
        self.touch(cont)
        cont.dirty = True
        seq = self.live_seq(cont, knode)
        if seq is not None:
            del cont.index[id(knode)]
            del knode
            cont.data.pop(seq)          # its reference, then its value

    def op_discard(self, sname, nname):
        cont = self.cont(sname, ('wset',), 'a weak set')
        node = self.node(nname)
        self.touch(cont)
        if cont.pending:
            self.commit(cont)
        seq = self.live_seq(cont, node)
        if seq is not None:
            del cont.index[id(node)]
            cont.data.pop(seq)

    def op_get(self, dname, key):
        cont = self.cont(dname, ('wvd', 'wkd'), 'a weak dict')
        if cont.kind == 'wvd':
            self.touch(cont)
            if cont.pending:
                self.commit(cont)
            ref = cont.data.get(key)
            value = ref() if ref is not None else None
        else:
            knode = self.node(key)
            self.touch(cont)
            seq = self.live_seq(cont, knode)
            value = cont.data[seq].value if seq is not None else None
        self.emit('get %s %s %s' % (dname, key, 'none' if value is None
                                    else self.name_of(value)))

    def op_has(self, cname, key):
        cont = self.cont(cname, ('wvd', 'wkd', 'wset'), 'a container')
        if cont.kind == 'wvd':
            self.touch(cont)
            if cont.pending:
                self.commit(cont)
            ref = cont.data.get(key)
            yes = ref is not None and ref() is not None
        else:
            node = self.node(key)
            self.touch(cont)
            yes = self.live_seq(cont, node) is not None
        self.emit('has %s %s %s' % (cname, key, 'yes' if yes else 'no'))

    def op_len(self, cname):
        cont = self.cont(cname, ('wvd', 'wkd', 'wset'), 'a container')
        self.touch(cont)
        if cont.kind == 'wvd':
            if cont.pending:
                self.commit(cont)
            n = len(cont.data)
        else:
            if cont.kind == 'wkd' and cont.dirty and cont.pending:
                # _scrub_removals (issue 21173)
                data = cont.data
                cont.pending = [r for r in cont.pending if r.seq in data]
                cont.dirty = False
            n = len(cont.data) - len(cont.pending)
        self.emit('len %s %d' % (cname, n))

    def op_items(self, cname):
        cont = self.cont(cname, ('wvd', 'wkd', 'wset'), 'a container')
        self.touch(cont)
        kind = cont.kind
        if kind == 'wvd' and cont.pending:
            self.commit(cont)
        words = self.item_words(cont)
        if not cont.iters and cont.pending:
            self.commit(cont)
        words.sort()
        self.emit(' '.join(['items', cname] + words))

    def item_words(self, cont):
        words = []
        kind = cont.kind
        for key, entry in cont.data.items():
            if kind == 'wvd':
                obj = entry()
                if obj is not None:
                    words.append(key + '=' + self.name_of(obj))
            elif kind == 'wkd':
                obj = entry.ref()
                if obj is not None:
                    words.append(obj.name + '=' + self.name_of(entry.value))
            else:
                obj = entry()
                if obj is not None:
                    words.append(obj.name)
        return words

    def clear_cont(self, cont):
        self.touch(cont)
        kind = cont.kind
        if kind != 'wkd' and cont.pending:
            self.commit(cont)
        cont.index.clear()
        data = cont.data
        if kind == 'wvd':
            while data:
                data.popitem()          # its reference freed
        elif kind == 'wkd':
            cont.dirty = True
            while data:
                data.popitem()          # its reference, then its value
        else:
            data.clear()

    # -- iterators (contract 6.5) ---------------------------------------------

    def op_iter(self, iname, dname):
        self.unbound(iname)
        cont = self.cont(dname, ('wvd', 'wkd'), 'a weak dict')
        self.touch(cont)
        if cont.kind == 'wvd' and cont.pending:
            self.commit(cont)
        it = _Iter()
        it.name = iname
        it.cont = cont
        it.epoch = cont.epoch
        it.snap = list(cont.data)
        it.pos = 0
        it.key = None
        it.value = None
        it.active = True
        cont.iters += 1
        self.roots[iname] = it

    def op_next(self, iname):
        it = self.bound(iname)
        if type(it) is not _Iter:
            raise ScenarioError(quote(iname) + ' is not an iterator')
        if it.active and it.epoch != it.cont.epoch:
            raise ScenarioError(quote(iname) + ' is invalidated')
        text = self.step(it) if it.active else None
        if text is None:
            if it.active:
                self.end_iter(it)
            text = 'end'
        self.emit('next %s %s' % (iname, text))

    def step(self, it):
        """Advance IT to its next live entry; its text, or None at the end.
        (A function of its own: no local outlives the walk.)"""
        while it.pos < len(it.snap):
            key = it.snap[it.pos]
            it.pos += 1
            cont = it.cont
            if cont.kind == 'wvd':
                ref = cont.data.get(key)
                value = ref() if ref is not None else None
                del ref
                it.value = value        # the previous value released
                if value is None:
                    continue
                it.key = key
                return '%s %s' % (key, self.name_of(value))
            entry = cont.data.get(key)
            if entry is None:
                continue
            it.value = None             # the previous value, then its key
            knode = entry.ref()
            it.key = knode
            if knode is None:
                continue
            it.value = entry.value
            return '%s %s' % (knode.name, self.name_of(entry.value))
        return None

    def end_iter(self, it):
        """The iteration ends: the registration goes (committing if it was
        the last), then the entry is released (value, key), then the
        container."""
        it.active = False
        cont = it.cont
        cont.iters -= 1
        if not cont.iters and cont.pending:
            self.commit(cont)
        del cont
        it.snap = None
        it.value = None
        it.key = None
        it.cont = None

    # -- weak methods (contract 4.5, 6.6) ---------------------------------------

    def op_wmethod(self, wname, oname, fname, cb):
        self.unbound(wname)
        obj = self.node(oname)
        func = self.node(fname)
        self.alloc()
        wm = WMethod(obj, _wmethod_callback)
        wm.name = wname
        wm.mode = cb
        wm.flag = bytearray(b'\x01')
        wm.fref = None
        self.live.add(id(wm))
        self.alloc()
        fref = FuncRef(func, _wmethod_callback)
        fref.name = wname + ':func'
        fref.wname = wname
        fref.mode = cb
        fref.flag = wm.flag
        self.live.add(id(fref))
        wm.fref = fref
        del fref
        self.roots[wname] = wm

    # -- finalize objects (contract 4.6) ----------------------------------------

    def op_finalize(self, fname, tname, mode):
        self.unbound(fname)
        target = self.node(tname)
        self.alloc()
        fin = FinObj()
        fin.name = fname
        fin.mode = mode
        self.live.add(id(fin))
        self.alloc()
        ref = FinRef(target, fin)
        ref.name = fname + ':ref'
        self.live.add(id(ref))
        self.registry[fin] = ref
        del ref
        self.roots[fname] = fin

    def fire(self, fin):
        """finalize.__call__: unregister, run fn; the weak reference is
        released after fn returns."""
        ref = self.registry.pop(fin, None)
        if ref is None:
            return False
        self.action('fn', fin, fin.name, fin.mode)
        del ref
        return True

    def op_call(self, fname):
        fin = self.finobj(fname)
        yes = self.fire(fin)
        self.emit('call %s %s' % (fname, 'yes' if yes else 'no'))

    def op_detach(self, fname):
        fin = self.finobj(fname)
        ref = self.registry.get(fin)
        obj = ref() if ref is not None else None
        if obj is None:
            self.emit('detach %s none' % fname)
            return
        del self.registry[fin]
        del ref
        self.emit('detach %s %s' % (fname, self.name_of(obj)))

    def op_peek(self, fname):
        fin = self.finobj(fname)
        ref = self.registry.get(fin)
        obj = ref() if ref is not None else None
        del ref
        self.emit('peek %s %s' % (fname, 'none' if obj is None
                                  else self.name_of(obj)))

    def op_alive(self, fname):
        fin = self.finobj(fname)
        self.emit('alive %s %s' % (fname, 'yes' if fin in self.registry
                                   else 'no'))

    # -- driver --------------------------------------------------------------

    def set_debug(self):
        gc.set_debug(gc.DEBUG_COLLECTABLE | gc.DEBUG_UNCOLLECTABLE |
                     (gc.DEBUG_SAVEALL if self.saveall else 0))

    def start(self, echo):
        gc.disable()
        self.counter = _StderrCounter(sys.stderr, False)
        sys.stderr = self.counter
        hook = _FREEFUNC(self._free_hook)
        self.hooks.append(hook)
        addr = ctypes.cast(hook, _P).value
        for tp in (Node, DelNode, Ref, PlainRef, Cont, ERef, WMethod,
                   FuncRef, FinObj, FinRef):
            _set_free(tp, addr, _GC_DEL)
        gc.callbacks.append(self.gc_callback)
        gc.collect()        # ctypes' helper types above leave cycles
        gc.freeze()
        self.counter.echo = echo
        self.set_debug()
        self.base_stats = gc.get_stats()

    def _free_hook(self, addr):
        self.on_free(addr)
        _GC_Del(addr)


_R = Runner()


def run(lines, out, write_events, echo=False):
    """Run the lines of a version-2 file (the version line included)."""
    runner = _R
    runner.start(echo)
    seen_version = False
    for number, raw in enumerate(lines, 1):
        tokens = raw.split()
        if not tokens or tokens[0][:1] == b'#':
            continue
        try:
            bad = None
            for token in tokens:
                bad = BAD_BYTE_RE.search(token)
                if bad is not None:
                    raise ScenarioError('bad character 0x%02x'
                                        % token[bad.start()])
            words = [t.decode('ascii') for t in tokens]
            if not seen_version:        # the version line itself
                seen_version = True
                continue
            op, args = parse_op(words)
            runner.line = number
            getattr(runner, 'op_' + op)(*args)
        except ScenarioError as err:
            runner.events.clear()
            return 2, 'scenario:%d: error: %s\n' % (number, err.args[0])
        write_events(out, runner.events)
    return 0, None
