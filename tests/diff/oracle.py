#!/usr/bin/env python3
"""CPython oracle for rcgc's scenario format, version 1.

    oracle.py FILE          run the scenario in FILE (FILE "-" reads stdin)
    oracle.py --serve [T]   batch mode for compare.py (see serve())

Runs a scenario (../../../shared/spec/scenario-format.md, "the contract") on
CPython's own gc and weakref modules and prints the canonical event log:
one event per line, "LINE TEXT", in the order the events happened.  Exit
status 0 after the last line; on the first bad line, status 2 with
"scenario:LINE: error: WHAT" on stderr, after the events of the earlier
lines.  Written for the build machines' python3 (CPython 3.11); standard
library only.  tests/diff/README.md explains how this fits with the C
runner, compare.py and gen.py.

Error messages (WHAT).  The C runner prints the same texts, byte for byte.
Checks run in this order and only the first failure is reported:

  1. bytes     bad character 0xHH          first byte of the line's tokens
                                           outside 0x21-0x7E; HH = two
                                           lowercase hex digits
  2. operation unknown operation 'TOK'
  3. count     'OP' takes SPEC, got N      SPEC: "no arguments",
                                           "1 argument", "2 arguments",
                                           "0 or 1 arguments" (collect),
                                           "1 or 2 arguments" (new),
                                           "2 or 3 arguments" (weak)
  4. syntax, arguments left to right:
               bad name 'TOK'              NAME, or the ROOT of drop:ROOT
               expected fin=MODE, got 'TOK'    second argument of new
               expected cb=MODE, got 'TOK'     third argument of weak
               unknown finalizer mode 'MODE'   MODE = text after "fin="
               unknown callback mode 'MODE'    MODE = text after "cb="
               bad generation 'TOK'        anything but 0, 1 or 2
  5. bindings, arguments left to right (for link/unlink/clear: SRC bound,
     SRC a node, then DST bound; for weak: W, then TARGET bound, a node):
               'NAME' is not bound
               'NAME' is already bound     new NAME / weak W on a bound name
               'NAME' is not a node        SRC of link/unlink/clear,
                                           TARGET of weak
               'NAME' is not a weak reference   deref of a node

A quoted token longer than 64 characters is cut to its first 64 followed by
"..." inside the quotes (a valid NAME is never cut).  Quoted text is always
printable ASCII, because check 1 comes first; it is never escaped.

Decisions where the contract leaves room (README.md repeats them):

- Lines are split at 0x0A only; a final line without "\\n" is a line, and
  a final "\\n" does not start another one.  Token separators are 0x20,
  0x09, 0x0B, 0x0C, 0x0D.  "#" marks a comment only as the first character
  of the first token; anywhere else it is an ordinary character.
- deref of a node is an error ("is not a weak reference"); the contract
  lists no such error but deref is only defined for weak references.
- referrers NAME accepts any bound name (a node or a weak reference) and
  lists nodes only.  saved and referrers list one name per distinct node,
  sorted by byte value (strcmp order); two distinct nodes with the same
  name both appear.
- unsave empties the list first, then releases its references last to
  first (list.clear); a finalizer run by that release may append to the
  now empty list, and such nodes stay saved.
- While clear SRC runs, the runner holds its own reference to SRC, so SRC
  cannot die in the middle of its own clear even if a handler unbinds its
  root; it dies when the operation ends (same line).  No other operation
  can run a handler while holding an argument: link never frees anything,
  unlink cannot free DST's object (DST is bound), drop holds nothing.
- fin=collect inside a collection prints "fincollect NAME 0" (CPython's
  gc.collect returns 0 while a collection runs and does not count it in
  gc.get_stats).  Outside a collection (refcount death) it runs a real full
  collection: its events belong to the current line and it counts in stats.
- drop:ROOT (finalizer or callback) unbinds whatever ROOT is bound to at that
  moment, node or weak reference, including the handler's own root.
- Every node has the same __del__; for a node without fin= it does nothing.
  That is unobservable: CPython calls it where it would call no finalizer,
  it creates no object, resurrects nothing and prints nothing.
- Nothing is printed after the last line: objects still alive are never
  finalized (the oracle leaves with os._exit, skipping interpreter teardown).
- stats K is gc.get_stats()'s "collected"; "uncollectable" is always 0 here
  (no legacy tp_del finalizers) and is not printed.
- Before the first line the oracle runs gc.disable(), gc.collect() and
  gc.freeze(): the interpreter's own objects go to the permanent generation.
  Results do not depend on it (those objects are never garbage, and a
  reference from a frozen container counts as external exactly like one
  from a live container); collections are just cheaper.  A scenario's
  unfreeze moves them to generation 2 with everything else, also harmless.
- Usage and I/O errors (not scenario errors): "oracle: ..." on stderr,
  status 2.  Failure to write stdout: status 1.

Why the counts are those of the scenario's graph only: every object the
oracle itself keeps (roots dict, saved list, the runner, the event buffer)
stays reachable for the whole run; the handlers create only strings and
short-lived temporaries freed by reference counting; the oracle raises no
exception before the end (a traceback would tie frames into cycles); node
and weak reference slots hold only str or None (never a tuple, which would
be a tracked object inside the graph).  The --debug-collectable flag turns on
gc.DEBUG_COLLECTABLE so a test can check that only Node and Ref objects are
ever found unreachable.
"""

import gc
import os
import re
import sys
import weakref

NAME_RE = re.compile(r'[A-Za-z_][A-Za-z0-9_]{0,63}')
BAD_BYTE_RE = re.compile(rb'[^\x21-\x7e]')
FIN_MODES = ('log', 'resurrect', 'clear', 'collect')
CB_MODES = ('log',)
QUOTE_MAX = 64

# operation -> (fewest, most) arguments
ARITY = {
    'new': (1, 2), 'link': (2, 2), 'unlink': (2, 2), 'clear': (1, 1),
    'drop': (1, 1), 'weak': (2, 3), 'deref': (1, 1), 'collect': (0, 1),
    'freeze': (0, 0), 'unfreeze': (0, 0), 'saved': (0, 0), 'unsave': (0, 0),
    'referrers': (1, 1), 'stats': (0, 0),
}


class ScenarioError(Exception):
    """A bad line: WHAT is the message after 'error: '."""


def quote(text):
    """Quote a token for an error message, cutting it after 64 characters."""
    if len(text) > QUOTE_MAX:
        text = text[:QUOTE_MAX] + '...'
    return "'" + text + "'"


def arity_text(fewest, most):
    """How many arguments an operation takes, as the error message says it."""
    if most == 0:
        return 'no arguments'
    if fewest == most:
        return '1 argument' if most == 1 else '%d arguments' % most
    return '%d or %d arguments' % (fewest, most)


# ---------------------------------------------------------------------------
# Parsing: bytes -> (operation, arguments), syntax only

def check_bytes(tokens):
    """Raise 'bad character' for the first non-printable byte of the tokens."""
    for token in tokens:
        bad = BAD_BYTE_RE.search(token)
        if bad is not None:
            raise ScenarioError('bad character 0x%02x' % token[bad.start()])


def check_name(text):
    """Return TEXT if it is a NAME, else raise 'bad name'."""
    if NAME_RE.fullmatch(text) is None:
        raise ScenarioError('bad name ' + quote(text))
    return text


def parse_mode(token, prefix, modes, kind):
    """Parse fin=MODE / cb=MODE; return the mode string ('drop:ROOT' kept)."""
    if not token.startswith(prefix):
        raise ScenarioError('expected %sMODE, got %s' % (prefix, quote(token)))
    mode = token[len(prefix):]
    if mode in modes:
        return mode
    if mode.startswith('drop:'):
        check_name(mode[5:])
        return mode
    raise ScenarioError('unknown %s mode %s' % (kind, quote(mode)))


def parse_generation(token):
    """Return the generation 0, 1 or 2, else raise 'bad generation'."""
    if token not in ('0', '1', '2'):
        raise ScenarioError('bad generation ' + quote(token))
    return int(token)


def parse_line(tokens):
    """Validate one non-comment line; return (operation, arguments).

    Arguments come back as str (names), a mode string or None, an int
    generation.  Only the syntax is checked here; bindings are checked by
    the operation itself, before it changes anything.
    """
    check_bytes(tokens)
    words = [t.decode('ascii') for t in tokens]
    op, args = words[0], words[1:]
    if op not in ARITY:
        raise ScenarioError('unknown operation ' + quote(op))
    fewest, most = ARITY[op]
    if not fewest <= len(args) <= most:
        raise ScenarioError('%s takes %s, got %d'
                            % (quote(op), arity_text(fewest, most), len(args)))
    if op == 'new':
        name = check_name(args[0])
        fin = parse_mode(args[1], 'fin=', FIN_MODES, 'finalizer') \
            if len(args) == 2 else None
        return op, (name, fin)
    if op == 'weak':
        wname, target = check_name(args[0]), check_name(args[1])
        cb = parse_mode(args[2], 'cb=', CB_MODES, 'callback') \
            if len(args) == 3 else None
        return op, (wname, target, cb)
    if op == 'collect':
        return op, (parse_generation(args[0]) if args else 2,)
    return op, tuple(check_name(a) for a in args)


# ---------------------------------------------------------------------------
# The object model

class Node(list):
    """A scenario node: one GC-tracked list, no __dict__.

    The list items are the node's references (duplicates allowed).  name is
    fixed at creation; mode is the finalizer mode string or None.
    """
    __slots__ = ('__weakref__', 'name', 'mode')

    def __del__(self):
        mode = self.mode
        if mode is not None:
            _RUNNER.finalize(self, mode)


class Ref(weakref.ref):
    """A scenario weak reference; mode is the callback mode string or None."""
    __slots__ = ('name', 'mode')


def _weak_callback(ref):
    """The one callback of every weak reference created with cb=MODE."""
    _RUNNER.callback(ref)


def new_node(name, mode):
    """Create a node (slots set before anything else can run)."""
    node = Node()
    node.name = name
    node.mode = mode
    return node


def new_ref(name, target, mode):
    """Create a weak reference to TARGET, with the callback if MODE is set."""
    ref = Ref(target, _weak_callback if mode is not None else None)
    ref.name = name
    ref.mode = mode
    return ref


# ---------------------------------------------------------------------------
# The runner

class Runner:
    """Roots, saved list and event buffer; executes validated lines.

    No method keeps a node or weak reference in a local variable across
    anything that can run a collection, except clear (see the module doc).
    """

    def __init__(self):
        self.roots = {}        # name -> Node or Ref (one strong reference)
        self.saved = []        # nodes appended by fin=resurrect
        self.events = []       # "LINE TEXT" strings not yet written
        self.line = 0          # line number of the operation running
        self.base_stats = None

    # -- events and handlers -------------------------------------------------

    def emit(self, text):
        """Record one event of the current line."""
        self.events.append('%d %s' % (self.line, text))

    def unbind(self, name):
        """Release root NAME if bound (drop:ROOT handlers)."""
        roots = self.roots
        if name in roots:
            del roots[name]

    def finalize(self, node, mode):
        """Run NODE's finalizer (called from Node.__del__, once per node)."""
        name = node.name
        self.emit('fin ' + name)
        if mode == 'resurrect':
            self.saved.append(node)
        elif mode == 'clear':
            node.clear()
        elif mode == 'collect':
            self.emit('fincollect %s %d' % (name, gc.collect()))
        elif mode.startswith('drop:'):
            self.unbind(mode[5:])

    def callback(self, ref):
        """Run a weak reference's callback."""
        self.emit('cb ' + ref.name)
        mode = ref.mode
        if mode.startswith('drop:'):
            self.unbind(mode[5:])

    # -- binding checks ------------------------------------------------------

    def bound(self, name):
        """Return the object bound to NAME, else raise 'is not bound'."""
        obj = self.roots.get(name)
        if obj is None:
            raise ScenarioError(quote(name) + ' is not bound')
        return obj

    def unbound(self, name):
        """Raise 'is already bound' if NAME is bound."""
        if name in self.roots:
            raise ScenarioError(quote(name) + ' is already bound')

    def node(self, name):
        """Return the node bound to NAME, else raise."""
        obj = self.bound(name)
        if type(obj) is not Node:
            raise ScenarioError(quote(name) + ' is not a node')
        return obj

    # -- operations ----------------------------------------------------------

    def op_new(self, name, fin):
        self.unbound(name)
        self.roots[name] = new_node(name, fin)

    def op_link(self, src, dst):
        self.node(src).append(self.bound(dst))

    def op_unlink(self, src, dst):
        node = self.node(src)
        target = self.bound(dst)
        for index in range(len(node)):
            if node[index] is target:       # identity: == on lists recurses
                del node[index]
                return

    def op_clear(self, src):
        node = self.node(src)               # held until we return
        node.clear()                        # last to first

    def op_drop(self, name):
        self.bound(name)
        del self.roots[name]

    def op_weak(self, wname, target, cb):
        self.unbound(wname)
        obj = self.node(target)
        self.roots[wname] = new_ref(wname, obj, cb)

    def op_deref(self, wname):
        ref = self.bound(wname)
        if type(ref) is not Ref:
            raise ScenarioError(quote(wname) + ' is not a weak reference')
        obj = ref()
        self.emit('deref %s %s' % (wname, 'dead' if obj is None else obj.name))

    def op_collect(self, generation):
        self.emit('collect %d %d' % (generation, gc.collect(generation)))

    def op_freeze(self):
        gc.freeze()

    def op_unfreeze(self):
        gc.unfreeze()

    def op_saved(self):
        names = [node.name for node in self.saved]
        names.sort()
        self.emit(' '.join(['saved'] + names))

    def op_unsave(self):
        self.saved.clear()

    def op_referrers(self, name):
        obj = self.bound(name)
        holders = gc.get_referrers(obj)
        names = [h.name for h in holders if type(h) is Node]
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

    # -- driver --------------------------------------------------------------

    def start(self):
        """Disable automatic collection, park the interpreter's objects."""
        gc.disable()
        gc.collect()
        gc.freeze()
        self.base_stats = gc.get_stats()

    def execute(self, number, op, args):
        """Run one validated line; ScenarioError leaves nothing changed."""
        self.line = number
        getattr(self, 'op_' + op)(*args)


_RUNNER = Runner()


def write_events(out, events):
    """Write and forget the buffered events."""
    if events:
        out.write(('\n'.join(events) + '\n').encode('ascii'))
        events.clear()


def is_version2(lines):
    """Is the first line with a token, not a comment, `version 2`?"""
    for raw in lines:
        tokens = raw.split()
        if tokens and tokens[0][:1] != b'#':
            return tokens == [b'version', b'2']
    return False


def run(data, out, debug=False):
    """Run the scenario DATA (bytes); return (status, error line or None)."""
    runner = _RUNNER
    lines = data.split(b'\n')
    if lines[-1] == b'':
        lines.pop()
    if is_version2(lines):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import oracle2
        return oracle2.run(lines, out, write_events, echo=debug)
    runner.start()
    for number, raw in enumerate(lines, 1):
        tokens = raw.split()        # exactly 0x20 0x09 0x0b 0x0c 0x0d here
        if not tokens or tokens[0][:1] == b'#':
            continue
        try:
            op, args = parse_line(tokens)
            runner.execute(number, op, args)
        except ScenarioError as err:
            write_events(out, runner.events)
            return 2, 'scenario:%d: error: %s\n' % (number, err.args[0])
        write_events(out, runner.events)
    return 0, None


def read_input(path):
    """Return the bytes of PATH ('-' is stdin), or None after a message."""
    try:
        if path == '-':
            return sys.stdin.buffer.read()
        with open(path, 'rb') as f:
            return f.read()
    except OSError as err:
        sys.stderr.write('oracle: cannot read %s: %s\n' % (path, err.strerror))
        return None


def serve(timeout):
    """Batch mode (oracle.py --serve): for each PATH line on stdin, run the
    scenario in a forked child (no interpreter start-up per scenario; every
    child starts from the same freshly imported state), its standard output
    in PATH.oracle-out and standard error in PATH.oracle-err, and answer one
    line: the exit status, or "timeout" after TIMEOUT seconds."""
    import select
    import signal
    import time
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import oracle2  # noqa: F401  (imported once, before any fork)
    stdin = sys.stdin.buffer
    answers = sys.stdout
    while True:
        request = stdin.readline()
        if not request:
            return 0
        path = request.rstrip(b'\n').decode('utf-8', 'surrogateescape')
        answers.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            try:
                out = os.open(path + '.oracle-out',
                              os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                err = os.open(path + '.oracle-err',
                              os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(out, 1)
                os.dup2(err, 2)
                os.close(out)
                os.close(err)
                code = main(['oracle.py', path])
                sys.stdout.flush()
                sys.stderr.flush()
            except BaseException as exc:
                try:
                    sys.stderr.write('oracle: internal error: %r\n' % (exc,))
                    sys.stderr.flush()
                finally:
                    os._exit(3)
            os._exit(code)
        deadline = time.monotonic() + timeout
        status = None
        while status is None:
            done, wait_status = os.waitpid(pid, os.WNOHANG)
            if done:
                status = str(os.waitstatus_to_exitcode(wait_status))
            elif time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                status = 'timeout'
            else:
                select.select([], [], [], 0.002)
        answers.write(status + '\n')
        answers.flush()


def main(argv):
    args = argv[1:]
    if args[:1] == ['--serve']:
        return serve(float(args[1]) if len(args) > 1 else 120.0)
    debug = '--debug-collectable' in args
    args = [a for a in args if a != '--debug-collectable']
    if len(args) != 1:
        sys.stderr.write('usage: oracle.py [--debug-collectable] FILE\n')
        return 2
    data = read_input(args[0])
    if data is None:
        return 2
    if debug:
        gc.set_debug(gc.DEBUG_COLLECTABLE)
    out = sys.stdout.buffer
    try:
        status, error = run(data, out, debug)
        out.flush()
    except OSError:
        return 1
    if error is not None:
        sys.stderr.write(error)
        sys.stderr.flush()
    return status


if __name__ == '__main__':
    try:
        code = main(sys.argv)
    except BaseException as exc:        # never expected: a bug in the oracle
        try:
            sys.stderr.write('oracle: internal error: %r\n' % (exc,))
            sys.stderr.flush()
        finally:
            os._exit(3)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)
