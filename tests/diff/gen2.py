"""Random scenario generator, format version 2 (the subset oracle2.py runs).

Used by gen.py (`gen.py --v2 ...`): the same seeds, output and knobs
conventions, profiles of its own (PROFILES below).  Scenarios stay inside
the contract's section 10 ("Outside the contract"):

- a file's actions either dereference and allocate (deref:, new:, weak:,
  weakcb:) or drop and clear (drop:, clear), never both; every name an
  action binds is fresh and never mentioned again; deref: reads only names
  that operations bound;
- drop:ROOT only unbinds a private payload (a node that no other line
  mentions), so unbinding it interacts with nothing else;
- collect actions (fin=collect, del=collect, cb=collect) only on nodes
  that nothing links to ("croot" nodes, dropped by their own line: the
  collection is the first thing that line does) or on weak references to
  them;
- weak references with callbacks are never linked into nodes;
- at most 45 tracked nodes per file, so no reference-count cascade reaches
  CPython's trashcan depth (50);
- `ordered` only on drop/unlink/clear lines while automatic collection is
  off and only of nodes without collect actions.
- weak containers, weak methods, finalize objects (profiles v2-containers,
  v2-wmethod, v2-finalize): weak-key dict values hold nothing (fresh
  "leaf" nodes that are never a link source nor the referent of a weak
  reference an action dereferences, untracked nodes, or weak references
  made for that purpose only); no iteration over weak sets (`items` only);
  `next` only on iterators no later operation on their dict invalidated;
  in a file that has any of these objects, callbacks and finalize functions
  never allocate (`new:`), since entry removals and finalize objects free
  weak references in the same phase of a collection (contract section 10);
  fn=collect only on finalize objects of croot nodes, weak methods never
  collect.
At most one deliberate error line, the last operation.
"""

import random

PROFILES = {
    'v2-mixed':   dict(ops=(60, 300)),
    'v2-auto':    dict(ops=(80, 400), auto=0.9, count=2.0, collect=0.3,
                       tmax=4),
    'v2-legacy':  dict(ops=(60, 300), dele=0.6, saveall=1.0, garbage=2.0),
    'v2-actions': dict(ops=(60, 300), fin=0.8, cb=0.9, act=0.8, auto=0.5),
    'v2-weak':    dict(ops=(60, 300), weak=3.0, plain=0.4, observe=2.0),
    'v2-intro':   dict(ops=(60, 300), observe=3.0, freeze=1.0),
    'v2-containers': dict(ops=(80, 400), cont=6.0, act=0.5, auto=0.4),
    'v2-wmethod': dict(ops=(60, 300), wmethod=2.5, cb=0.7, act=0.6,
                       observe=1.5),
    'v2-finalize': dict(ops=(60, 300), finobj=2.5, act=0.6, auto=0.4),
    'v2-weakmix': dict(ops=(80, 400), cont=2.5, wmethod=1.0, finobj=1.0,
                       weak=2.0, act=0.7, fin=0.6),
    'v2-errors':  dict(ops=(0, 40), error=1.0),
}

DEFAULTS = dict(
    ops=(60, 300),
    auto=0.3,       # probability that the file turns automatic collection on
    count=1.0,      # weight of count
    collect=1.0,    # weight of collect
    dele=0.15,      # probability that a node has a legacy finalizer
    fin=0.4,        # probability that a node has a PEP 442 finalizer
    cb=0.5,         # probability that a weak reference has a callback
    act=0.4,        # probability that a finalizer/callback mode is an action
    untracked=0.1,  # probability that a node is untracked
    weak=1.5,       # weight of weak
    plain=0.2,      # probability that a weak reference is plain
    saveall=0.2,    # weight of saveall on/off
    garbage=0.5,    # weight of garbage/ungarbage
    observe=1.0,    # weight of introspection operations
    freeze=0.2,     # weight of freeze/unfreeze
    error=0.1,      # probability of ending with an error line
    tmax=10,        # largest threshold 0
    cont=0.0,       # weight of weak-container operations
    wmethod=0.0,    # weight of wmethod
    finobj=0.0,     # weight of finalize-object operations
)

MAX_NODES = 45


class Gen2:

    def __init__(self, rng, knobs):
        self.rng = rng
        self.k = knobs
        self.lines = []
        self.counter = 0
        self.nodes = []      # bound tracked nodes (ops may use them)
        self.unodes = []     # bound untracked nodes
        self.weaks = []      # bound weak references made by operations
        self.croots = set()  # nodes nothing may link to
        self.collectors = set()  # croots with a collect action (no ordered)
        self.made = 0
        self.auto = False
        # the file's action family: 'deref' (deref, allocate) or 'drop'
        self.family = rng.choice(['deref', 'drop'])
        # containers, weak methods or finalize objects: no allocating
        # callbacks or finalize functions (contract section 10)
        self.noalloc_cb = bool(knobs['cont'] or knobs['wmethod'] or
                               knobs['finobj'])
        self.conts = {}      # bound container name -> kind
        self.iters = {}      # bound iterator name -> [dict name, valid]
        self.leaves = []     # bound leaf nodes (weak-key values)
        self.vweaks = []     # bound weak references kept for values
        self.keys = {}       # weak-value dict name -> key tokens used
        self.fins = []       # bound finalize objects

    def fresh(self, prefix):
        self.counter += 1
        return '%s%d' % (prefix, self.counter)

    def emit(self, *words):
        self.lines.append(' '.join(words))

    # -- modes ----------------------------------------------------------------

    def mode(self, hook, allow_collect):
        """A MODE for hook 'fin', 'del' or 'cb'."""
        rng = self.rng
        if rng.random() >= self.k['act']:
            base = ['log'] * 3
            if hook not in ('cb', 'fn'):
                base.append('resurrect')
            return rng.choice(base), False
        choices = []
        if not choices and hook in ('cb', 'fn') and self.family == 'deref' \
                and self.noalloc_cb and not self.weaks and not allow_collect:
            return 'log', False
        if allow_collect:
            choices.append('collect')
        if self.family == 'deref':
            if hook not in ('cb', 'fn') or not self.noalloc_cb:
                choices += ['new:' + self.fresh('a')]
            if self.weaks:
                w = rng.choice(self.weaks)
                choices += ['deref:' + w, 'deref:%s:%s' % (w, self.fresh('r'))]
            if hook not in ('cb', 'fn'):
                choices += ['weak:' + self.fresh('aw'),
                            'weakcb:' + self.fresh('aw')]
        else:
            choices.append('drop:')
            if hook not in ('cb', 'fn'):
                choices.append('clear')
        m = rng.choice(choices)
        if m == 'drop:':
            m += self.payload()
        return m, m == 'collect'

    def payload(self):
        """A private node, never mentioned again."""
        name = self.fresh('p')
        self.made += 1
        if self.rng.random() < 0.3:
            self.emit('new', name, 'fin=log')
        else:
            self.emit('new', name)
        return name

    # -- operations -----------------------------------------------------------

    def op_new(self):
        rng = self.rng
        if self.made >= MAX_NODES:
            return self.op_collect()
        name = self.fresh('n')
        if rng.random() < self.k['untracked']:
            words = ['new', name, 'untracked']
            if rng.random() < self.k['fin']:
                m, _ = self.mode('fin', False)
                if not m.startswith('weak'):
                    words.append('fin=' + m)
            rng.shuffle(words[2:])
            self.emit(*words)
            self.unodes.append(name)
            return
        self.made += 1
        croot = rng.random() < 0.2
        opts = []
        collect = False
        if rng.random() < self.k['fin']:
            m, c = self.mode('fin', croot)
            opts.append('fin=' + m)
            collect |= c
        if rng.random() < self.k['dele']:
            m, c = self.mode('del', croot)
            opts.append('del=' + m)
            collect |= c
        rng.shuffle(opts)
        self.emit('new', name, *opts)
        self.nodes.append(name)
        if croot:
            self.croots.add(name)
        if collect:
            self.collectors.add(name)

    def linkable(self):
        return [n for n in self.nodes if n not in self.croots]

    def op_link(self):
        rng = self.rng
        if not self.nodes:
            return self.op_new()
        src = rng.choice(self.nodes)
        targets = self.linkable() + self.unodes + \
            [w for w in self.weaks if w.startswith('wp') or w.startswith('wn')
             or w.startswith('mn')]
        if not targets:
            return self.op_new()
        self.emit('link', src, rng.choice(targets))

    def op_unlink(self):
        if not self.nodes:
            return self.op_new()
        rng = self.rng
        src = rng.choice(self.nodes)
        dst = rng.choice(self.nodes + self.unodes)
        self.maybe_ordered('unlink', src, dst, subject=dst)

    def maybe_ordered(self, *words, subject):
        if not self.auto and subject not in self.collectors and \
                self.rng.random() < 0.3:
            self.emit('ordered', *words)
        else:
            self.emit(*words)

    def op_clear(self):
        if not self.nodes:
            return self.op_new()
        src = self.rng.choice(self.nodes)
        self.maybe_ordered('clear', src, subject=src)

    def op_drop(self):
        rng = self.rng
        pools = [p for p in (self.nodes, self.unodes, self.weaks) if p]
        if not pools:
            return self.op_new()
        pool = rng.choice(pools)
        name = pool.pop(rng.randrange(len(pool)))
        self.maybe_ordered('drop', name, subject=name)

    def op_weak(self):
        rng = self.rng
        if not self.nodes:
            return self.op_new()
        target = rng.choice(self.nodes)
        r = rng.random()
        if r < self.k['plain']:
            name = self.fresh('wp')
            self.emit('weak', name, target, 'plain')
        elif r < self.k['plain'] + (1 - self.k['plain']) * self.k['cb']:
            name = self.fresh('wc')
            m, c = self.mode('cb', target in self.croots)
            if c:
                self.collectors.add(target)
            self.emit('weak', name, target, 'cb=' + m)
        else:
            name = self.fresh('wn')
            self.emit('weak', name, target)
        self.weaks.append(name)

    def any_bound(self):
        pool = self.nodes + self.unodes + self.weaks
        return self.rng.choice(pool) if pool else None

    def op_observe(self):
        rng = self.rng
        k = rng.randrange(12)
        if k == 0 and self.weaks:
            self.emit('deref', rng.choice(self.weaks))
        elif k == 1 and self.nodes:
            self.emit('weakrefs', rng.choice(self.nodes))
        elif k == 2 and self.nodes:
            self.emit('weakcount', rng.choice(self.nodes))
        elif k == 3 and [w for w in self.weaks if w[0] == 'w']:
            self.emit('callback', rng.choice(
                [w for w in self.weaks if w[0] == 'w']))
        elif k == 4 and self.any_bound():
            self.emit('same', self.any_bound(), self.any_bound())
        elif k == 5 and self.any_bound():
            self.emit('gen', self.any_bound())
        elif k == 6 and self.any_bound():
            self.emit('finalized', self.any_bound())
        elif k == 7 and self.any_bound():
            self.emit('tracked', self.any_bound())
        elif k == 8:
            self.emit('frozen')
        elif k == 9 and (self.nodes or self.unodes):
            self.emit('referents', rng.choice(self.nodes + self.unodes))
        elif k == 10 and (self.nodes or self.weaks):
            self.emit('referrers', rng.choice(self.nodes + self.weaks))
        else:
            self.emit(rng.choice(['saved', 'stats', 'garbage', 'count']))

    def op_collect(self):
        rng = self.rng
        if rng.random() < 0.4:
            self.emit('collect', str(rng.randrange(2)))
        else:
            self.emit('collect')

    def op_auto(self):
        rng = self.rng
        if rng.random() < 0.5:
            self.emit('threshold', str(rng.randint(1, self.k['tmax'] + 2)),
                      str(rng.randint(0, 4)), str(rng.randint(0, 4)))
        else:
            self.auto = not self.auto
            self.emit('auto', 'on' if self.auto else 'off')

    def op_saveall(self):
        self.emit('saveall', self.rng.choice(['on', 'off']))

    def op_garbage(self):
        self.emit(self.rng.choice(['garbage', 'garbage', 'ungarbage']))

    def op_misc(self):
        rng = self.rng
        self.emit(rng.choice(['unsave', 'saved', 'gccb on', 'gccb off',
                              'stats']))

    def op_freeze(self):
        self.emit(self.rng.choice(['freeze', 'unfreeze', 'frozen']))

    # -- weak containers (contract 4.4) -------------------------------------

    def touch(self, cont, keep=None):
        """An operation names CONT: its other iterators become invalid."""
        for name, state in self.iters.items():
            if state[0] == cont and name != keep:
                state[1] = False

    def leaf(self):
        """A bound leaf node (a weak-key value: it holds nothing)."""
        if self.leaves and self.rng.random() < 0.6:
            return self.rng.choice(self.leaves)
        name = self.fresh('v')
        self.made += 1
        if self.rng.random() < self.k['fin']:
            self.emit('new', name, 'fin=' + self.rng.choice(
                ['log', 'log', 'resurrect']))
        else:
            self.emit('new', name)
        self.leaves.append(name)
        return name

    def wk_value(self):
        rng = self.rng
        r = rng.random()
        if r < 0.6 or self.made >= MAX_NODES:
            if self.unodes and (r < 0.15 or self.made >= MAX_NODES):
                return rng.choice(self.unodes)
            if self.made >= MAX_NODES and self.leaves:
                return rng.choice(self.leaves)
            if self.made >= MAX_NODES:
                name = self.fresh('u')
                self.emit('new', name, 'untracked')
                self.unodes.append(name)
                return name
            return self.leaf()
        if r < 0.8 and self.unodes:
            return rng.choice(self.unodes)
        if self.vweaks and r < 0.9:
            return rng.choice(self.vweaks)
        if not self.nodes:
            return self.leaf()
        name = self.fresh('wv')
        self.emit('weak', name, rng.choice(self.nodes))
        self.vweaks.append(name)
        return name

    def a_cont(self, kinds):
        names = [c for c, k in self.conts.items() if k in kinds]
        return self.rng.choice(names) if names else None

    def op_cont(self):
        rng = self.rng
        k = rng.random()
        if not self.conts or k < 0.08:
            kind = rng.choice(['wvd', 'wkd', 'wset'])
            name = self.fresh({'wvd': 'dv', 'wkd': 'dk', 'wset': 's'}[kind])
            self.emit(kind, name)
            self.conts[name] = kind
            self.keys[name] = []
            return
        if not self.nodes:
            return self.op_new()
        if k < 0.45:
            return self.op_put()
        if k < 0.55:
            return self.op_remove()
        if k < 0.72:
            return self.op_query()
        if k < 0.78:
            c = self.a_cont(('wvd', 'wkd', 'wset'))
            self.touch(c)
            self.emit('clear', c)
            return
        if k < 0.92:
            return self.op_iterate()
        if k < 0.96 and self.iters:
            name = rng.choice(sorted(self.iters))
            del self.iters[name]
            self.emit('drop', name)
            return
        if k < 0.98:
            name = rng.choice(sorted(self.conts))
            del self.conts[name]
            self.emit('drop', name)
            return
        pool = self.nodes + self.leaves
        node = rng.choice(pool)
        self.emit('drop', node)
        (self.nodes if node in self.nodes else self.leaves).remove(node)

    def op_put(self):
        rng = self.rng
        c = self.a_cont(('wvd', 'wkd', 'wset'))
        kind = self.conts[c]
        self.touch(c)
        if kind == 'wvd':
            keys = self.keys[c]
            if keys and rng.random() < 0.3:
                key = rng.choice(keys)
            else:
                key = 'k%d' % rng.randrange(12)
                keys.append(key)
            self.emit('put', c, key, rng.choice(self.nodes))
        elif kind == 'wkd':
            key = rng.choice(self.nodes)
            self.emit('put', c, key, self.wk_value())
        else:
            self.emit('add', c, rng.choice(self.nodes))

    def op_remove(self):
        rng = self.rng
        c = self.a_cont(('wvd', 'wkd', 'wset'))
        kind = self.conts[c]
        self.touch(c)
        if kind == 'wvd':
            self.emit('del', c, 'k%d' % rng.randrange(12))
        elif kind == 'wkd':
            self.emit('del', c, rng.choice(self.nodes))
        else:
            self.emit('discard', c, rng.choice(self.nodes))

    def op_query(self):
        rng = self.rng
        c = self.a_cont(('wvd', 'wkd', 'wset'))
        kind = self.conts[c]
        self.touch(c)
        q = rng.choice(['get', 'has', 'len', 'items', 'items'])
        if q == 'get' and kind == 'wset':
            q = 'has'
        if q in ('len', 'items'):
            self.emit(q, c)
        elif kind == 'wvd':
            self.emit(q, c, 'k%d' % rng.randrange(12))
        else:
            self.emit(q, c, rng.choice(self.nodes))

    def op_iterate(self):
        rng = self.rng
        valid = [i for i, st in self.iters.items() if st[1]]
        if valid and rng.random() < 0.75:
            it = rng.choice(sorted(valid))
            for _ in range(rng.randint(1, 3)):
                r = rng.random()
                if r < 0.25 and self.nodes:
                    # a death during the iteration (deferred removal)
                    node = rng.choice(self.nodes)
                    self.nodes.remove(node)
                    self.emit('drop', node)
                elif r < 0.35:
                    self.emit('collect')
                self.emit('next', it)
            return
        c = self.a_cont(('wvd', 'wkd'))
        if c is None:
            return self.op_query()
        name = self.fresh('i')
        self.touch(c)
        self.emit('iter', name, c)
        self.iters[name] = [c, True]

    # -- weak methods (contract 4.5) ----------------------------------------

    def op_wmethod(self):
        rng = self.rng
        if len(self.nodes) < 1:
            return self.op_new()
        obj, func = rng.choice(self.nodes), rng.choice(self.nodes)
        r = rng.random()
        if r < self.k['cb']:
            name = self.fresh('mc')
            m, _ = self.mode('cb', False)
            self.emit('wmethod', name, obj, func, 'cb=' + m)
        else:
            name = self.fresh('mn')
            self.emit('wmethod', name, obj, func)
        self.weaks.append(name)

    # -- finalize objects (contract 4.6) ------------------------------------

    def op_finobj(self):
        rng = self.rng
        k = rng.random()
        if self.fins and k < 0.45:
            f = rng.choice(self.fins)
            q = rng.choice(['call', 'detach', 'peek', 'alive', 'alive',
                            'peek', 'drop'])
            if q == 'drop':
                self.fins.remove(f)
            self.emit(q, f)
            return
        if not self.nodes:
            return self.op_new()
        target = rng.choice(self.nodes)
        name = self.fresh('f')
        m, _ = self.mode('fn', target in self.croots)
        if m == 'collect':
            self.collectors.add(target)
        if m == 'log' and rng.random() < 0.3:
            self.emit('finalize', name, target)
        else:
            self.emit('finalize', name, target, 'fn=' + m)
        self.fins.append(name)

    def build(self, target_ops):
        rng = self.rng
        if rng.random() < self.k['auto']:
            self.emit('threshold', str(rng.randint(1, self.k['tmax'])),
                      str(rng.randint(0, 3)), str(rng.randint(0, 3)))
            self.emit('auto', 'on')
            self.auto = True
        if rng.random() < 0.5:
            self.emit('gccb', 'on')
        table = [
            (self.op_new, 4.0), (self.op_link, 4.0), (self.op_unlink, 0.8),
            (self.op_clear, 0.4), (self.op_drop, 3.0),
            (self.op_weak, self.k['weak']), (self.op_observe, self.k['observe']),
            (self.op_collect, self.k['collect']), (self.op_auto, 0.3),
            (self.op_saveall, self.k['saveall']),
            (self.op_garbage, self.k['garbage']), (self.op_misc, 0.5),
            (self.op_freeze, self.k['freeze']),
            (lambda: self.emit('count'), self.k['count']),
            (self.op_cont, self.k['cont']),
            (self.op_wmethod, self.k['wmethod']),
            (self.op_finobj, self.k['finobj']),
        ]
        table = [(fn, w) for fn, w in table if w]
        total = sum(w for _, w in table)
        while len(self.lines) < target_ops:
            x = rng.random() * total
            for fn, w in table:
                x -= w
                if x < 0:
                    fn()
                    break


ERRORS = [
    'new {n} fin=log fin=log', 'new {n} untracked fin=weak:x',
    'new {n} bogus', 'weak w {n} cb=resurrect', 'weak w {n} cb=weak:x',
    'threshold 1 2 -3', 'threshold 2147483648 0 0', 'threshold 01 1 1',
    'auto maybe', 'gccb 1', 'saveall', 'ordered', 'ordered ordered drop {n}',
    'version 2', 'wvd {n}', 'ungarbage {n}', 'next {n}', 'put {n} k {n}',
    'add {n} {n}', 'iter i {n}', 'len {n}', 'items zz_none', 'has {n} {n}',
    'wmethod {n} {n} {n}', 'wmethod m {n} {n} cb=resurrect',
    'finalize f {n} fn=clear', 'finalize f {n} cb=log', 'call {n}',
    'detach {n}', 'alive zz_none', 'finalize f {u}', 'wmethod m {n} {u}', 'unsave zz_none', 'count 1',
    'new {n} del=deref:a:9b', 'new {n} fin=drop', 'referents zz_none',
    'weakrefs {u}', 'callback {n}', 'gen', 'new {n} fin=log del=log untracked x',
]


def generate(seed, profile, rng, knobs):
    """(scenario bytes, error line or None)."""
    g = Gen2(rng, knobs)
    g.build(knobs['ops'])
    header = '# gen.py --v2 seed=%d profile=%s ' % (seed, profile) + ' '.join(
        '%s=%s' % (k, knobs[k]) for k in sorted(knobs))
    lines = [header, 'version 2'] + g.lines
    error_at = None
    if rng.random() < knobs['error']:
        n = rng.choice(g.nodes) if g.nodes else 'zz'
        u = rng.choice(g.unodes) if g.unodes else 'zz_none'
        lines.append(rng.choice(ERRORS).format(n=n, u=u))
        error_at = len(lines)
        lines.append('collect')
    return ('\n'.join(lines) + '\n').encode('ascii'), error_at
