#!/usr/bin/env python3
"""Random scenario generator for rcgc's differential tests.

    gen.py [--seed N] [--profile P] [KNOBS]          one scenario on stdout
    gen.py --seeds A-B --out-dir DIR [...]           DIR/gen-SEED.scn each

The seed is written in the first comment line of the scenario
("# gen.py seed=N profile=P ...", followed by every knob's value) and on
stderr.  Without --profile the profile is chosen from the seed, so a range
of seeds covers every knob setting.  Explicit knobs override the profile.

Scenarios are valid for the contract (scenario format version 1) except for
at most one deliberate error line, the last operation of the file.  They
also never depend on the order of events within one line, which the
contract leaves free: see "Order independence" in README.md for the rules
(drop: handlers only unbind private payloads, fin=collect only on self-looped
or exclusively rooted nodes, callback weak references held only by roots and
self-looped nodes, pure deep chains).
"""

import argparse
import os
import random
import sys

PROFILES = {
    # name: knob defaults (ops is a range; one value is drawn per scenario)
    'mixed':      dict(ops=(100, 600)),
    'small':      dict(ops=(5, 60)),
    'deep':       dict(ops=(1500, 6000), chain=0.3, chain_min=101,
                       chain_max=2500, chain_share=0.6),
    'dense':      dict(ops=(200, 1500), dense=0.8, dense_max=14, collect=3.0),
    'finalizers': dict(ops=(100, 800), fin=0.9, croot=1.5, unsave=1.0),
    'weak':       dict(ops=(100, 800), weak=4.0, cb=0.8, observe=2.0),
    'freeze':     dict(ops=(100, 800), freeze=2.0, observe=2.0),
    'gens':       dict(ops=(100, 800), collect=3.0, young=0.7, observe=1.5),
    'errors':     dict(ops=(0, 80), error=1.0, noise=0.4),
    'big':        dict(ops=(9000, 10000), chain=0.1, chain_max=1500),
}

DEFAULTS = dict(
    ops=(100, 600),     # operation lines (one value drawn from a range)
    chain=0.05,         # weight of a deep-chain episode (many lines each)
    chain_min=20,       # chain length range
    chain_max=150,
    chain_share=0.25,   # at most this share of the remaining lines per chain
    dense=0.15,         # weight of a dense-cycle (clique) episode
    dense_max=8,        # largest clique
    fin=0.5,            # probability that a new node has a finalizer
    croot=0.4,          # weight of exclusively rooted fin=collect nodes
    weak=1.5,           # weight of weak reference creation
    cb=0.6,             # probability that a weak reference has a callback
    freeze=0.3,         # weight of freeze/unfreeze
    observe=1.0,        # weight of deref/referrers/saved/stats
    collect=1.5,        # weight of collect
    young=0.35,         # probability that a collect is of generation 0 or 1
    unsave=0.4,         # weight of unsave
    error=0.1,          # probability of ending with an error line
    noise=0.1,          # probability of odd white space / comment lines
    reuse=0.1,          # probability that a new node reuses a dropped name
)


# ---------------------------------------------------------------------------
# The generator's model of the scenario

class NodeM:
    """What the generator knows about one node (it does not track deaths).

    role: ord (random graph), pin (permanent self-loop), perm (never
    dropped), croot (fin=collect, never a link target), chain, dense (a clique
    member: like ord), pay (a private payload).  items: the names linked from
    it by link operations (to choose plausible unlink operations).
    """
    __slots__ = ('name', 'role', 'mode', 'items')

    def __init__(self, name, role, mode):
        self.name, self.role, self.mode = name, role, mode
        self.items = []


class WeakM:
    """A weak reference: linkable says whether a node may hold it."""
    __slots__ = ('name', 'cb', 'target', 'linkable')

    def __init__(self, name, cb, target, linkable):
        self.name, self.cb, self.target = name, cb, target
        self.linkable = linkable


class Generator:
    """Builds one scenario as a list of text lines."""

    def __init__(self, rng, knobs, target_ops):
        self.rng = rng
        self.k = knobs
        self.target = target_ops
        self.lines = []
        self.ops = 0
        self.bound = {}          # name -> NodeM / WeakM, names it can track
        self.volatile = set()    # bound names a handler may unbind: unused
        self.reusable = []       # dropped ordinary node names
        self.payloads = []       # private payload roots (volatile)
        self.privweak = []       # private weak references to perm nodes
        self.never_reuse = set()  # targets of a node's own drop: handler
        self.serial = 0

    # -- output --------------------------------------------------------------

    def emit(self, *words):
        """Append one operation line."""
        self.lines.append(' '.join(words))
        self.ops += 1

    def fresh(self, prefix):
        """A name never used before."""
        self.serial += 1
        return '%s%d' % (prefix, self.serial)

    def left(self):
        """Operation lines still to emit."""
        return self.target - self.ops

    # -- choices -------------------------------------------------------------

    def pick(self, names):
        """A random element, or None for an empty list."""
        return self.rng.choice(names) if names else None

    def names_of(self, roles=None, kind=NodeM):
        """Trackable bound names of the given kind (and node roles)."""
        return [n for n, o in self.bound.items()
                if isinstance(o, kind) and n not in self.volatile
                and (roles is None or kind is not NodeM or o.role in roles)]

    def weighted(self, table):
        """Pick a key of TABLE {key: weight}."""
        total = sum(table.values())
        x = self.rng.random() * total
        for key, weight in table.items():
            x -= weight
            if x < 0:
                return key
        return key

    # -- private drop targets ------------------------------------------------

    def drop_target(self, own_name, allow_self):
        """A ROOT for drop:ROOT whose unbinding cannot interact with others."""
        kind = self.weighted({'payload': 4, 'privweak': 1.5, 'self': 1.0,
                              'ghost': 0.5})
        if kind == 'payload':
            if self.payloads and self.rng.random() < 0.5:
                return self.pick(self.payloads)
            return self.make_payload()
        if kind == 'privweak':
            if self.privweak and self.rng.random() < 0.5:
                return self.pick(self.privweak)
            return self.make_privweak()
        if kind == 'self' and allow_self:
            return own_name
        return self.fresh('ghost')          # never bound: drop does nothing

    def make_payload(self):
        """A fresh acyclic subtree held only by a private root.

        Its nodes have no finalizer but log, resurrect, clear or drop: of
        another existing payload; weak references to them (with cb=log) are
        rooted and never linked.  When a handler unbinds it, it dies at once
        and runs only handlers that interact with nothing else.
        """
        name = self.fresh('pay')
        mode = self.weighted({None: 2, 'log': 3, 'resurrect': 1, 'clear': 1,
                              'drop': 1 if self.payloads else 0})
        if mode == 'drop':
            mode = 'drop:' + self.pick(self.payloads)
        self.emit(*(['new', name] + (['fin=' + mode] if mode else [])))
        top = NodeM(name, 'pay', mode)
        self.bound[name] = top
        for i in range(self.rng.randint(0, 3)):
            child = '%s_%d' % (name, i)
            self.emit(*(['new', child] + (['fin=log']
                                          if self.rng.random() < 0.6 else [])))
            self.emit('link', name, child)
            if self.rng.random() < 0.3:
                self.new_weak_to(child, nolink=True, cb_modes=('log',))
            self.emit('drop', child)
        if self.rng.random() < 0.4:
            self.new_weak_to(name, nolink=True, cb_modes=('log',))
        self.volatile.add(name)
        self.payloads.append(name)
        return name

    def make_privweak(self):
        """A weak reference to a perm node, unbound only by handlers."""
        perms = self.names_of(('perm',))
        name = self.fresh('pw')
        if self.rng.random() < 0.5:
            self.emit('weak', name, self.pick(perms), 'cb=log')
        else:
            self.emit('weak', name, self.pick(perms))
        self.bound[name] = WeakM(name, None, None, False)
        self.volatile.add(name)
        self.privweak.append(name)
        return name

    # -- nodes ---------------------------------------------------------------

    def fin_mode(self, name, table):
        """Pick a finalizer mode from TABLE; None means no finalizer."""
        if self.rng.random() >= self.k['fin']:
            return None
        mode = self.weighted(table)
        if mode == 'drop':
            mode = 'drop:' + self.drop_target(name, True)
        return mode

    def node_name(self, prefix):
        """A fresh name, or sometimes a dropped ordinary one."""
        if self.reusable and self.rng.random() < self.k['reuse']:
            return self.reusable.pop(self.rng.randrange(len(self.reusable)))
        return self.fresh(prefix)

    def new_node(self, role, name, mode):
        """Emit new NAME [fin=MODE] and return its model."""
        self.emit(*(['new', name] + (['fin=' + mode] if mode else [])))
        node = NodeM(name, role, mode)
        self.bound[name] = node
        if mode == 'drop:' + name:
            self.never_reuse.add(name)
        return node

    ORD_MODES = {'log': 3, 'resurrect': 2, 'clear': 2, 'drop': 2}
    PIN_MODES = {'log': 3, 'resurrect': 2, 'collect': 2, 'drop': 2}

    def act_new(self):
        name = self.node_name('n')
        self.new_node('ord', name, self.fin_mode(name, self.ORD_MODES))

    def act_pin(self):
        """A node with a self-loop that stays: it never dies by refcount."""
        name = self.node_name('p')
        node = self.new_node('pin', name, self.fin_mode(name, self.PIN_MODES))
        self.link(node, node)

    def act_croot(self):
        """fin=collect on a node nothing links to: it dies only by drop."""
        node = self.new_node('croot', self.fresh('x'), 'collect')
        for _ in range(self.rng.randint(0, 2)):
            dst = self.pick(self.names_of(('ord', 'pin', 'perm', 'dense')))
            if dst:
                self.link(node, self.bound[dst])

    # -- links ---------------------------------------------------------------

    def link(self, src, dst):
        """Emit link SRC DST (DST a NodeM or WeakM) and remember it."""
        self.emit('link', src.name, dst.name)
        src.items.append(dst.name)

    def act_link(self):
        # a perm node holds what it links forever: rarely a source
        roles = ('ord', 'pin', 'dense', 'perm') if self.rng.random() < 0.05 \
            else ('ord', 'pin', 'dense')
        srcs = self.names_of(roles)
        if not srcs:
            return self.act_new()
        src = self.bound[self.pick(srcs)]
        if self.rng.random() < 0.25:
            weaks = [n for n in self.names_of(kind=WeakM)
                     if self.bound[n].linkable
                     and (self.bound[n].cb is None or src.role == 'pin')]
            if weaks:
                self.link(src, self.bound[self.pick(weaks)])
                return
        self.link(src, self.bound[self.pick(
            self.names_of(('ord', 'pin', 'perm', 'dense')))])

    def act_unlink(self):
        srcs = [n for n in self.names_of(('ord', 'pin', 'perm', 'dense'))
                if self.bound[n].items]
        if not srcs:
            return
        src = self.bound[self.pick(srcs)]
        dst = self.pick(src.items)
        if dst not in self.bound or dst in self.volatile:
            return
        if src.role == 'pin' and dst == src.name:
            return                          # the permanent self-loop stays
        self.emit('unlink', src.name, dst)
        if dst in src.items:
            src.items.remove(dst)

    def act_clear(self):
        src = self.pick(self.names_of(('ord', 'dense')))
        if src:
            self.emit('clear', src)
            self.bound[src].items = []

    def act_drop(self):
        weaks = self.names_of(kind=WeakM)
        if weaks and self.rng.random() < 0.25:
            name = self.pick(weaks)
        else:
            name = self.pick(self.names_of(('ord', 'pin', 'dense', 'croot',
                                            'chain')))
        if name:
            self.drop(name)

    def drop(self, name):
        obj = self.bound.pop(name)
        self.emit('drop', name)
        if isinstance(obj, NodeM) and obj.role in ('ord', 'pin', 'dense') \
                and name not in self.never_reuse:
            self.reusable.append(name)

    # -- weak references -----------------------------------------------------

    def new_weak_to(self, target, nolink=False, cb_modes=None):
        """Emit weak W TARGET [cb=MODE]; return W's name."""
        name = self.fresh('w')
        cb = None
        if self.rng.random() < self.k['cb']:
            cb = self.weighted({'log': 3, 'drop': 1.5, 'self': 1}) \
                if cb_modes is None else self.rng.choice(cb_modes)
        if cb == 'drop':
            cb = 'drop:' + self.drop_target(name, False)
        elif cb == 'self':
            cb = 'drop:' + name
        self.emit(*(['weak', name, target] + (['cb=' + cb] if cb else [])))
        weak = WeakM(name, cb, target, not nolink)
        self.bound[name] = weak
        if cb == 'drop:' + name:
            # its own callback may unbind it: never mention it again, except
            # to put it into a self-looped node right now (nothing can run
            # between the two lines)
            pins = self.names_of(('pin',))
            if pins and not nolink and self.rng.random() < 0.5:
                self.link(self.bound[self.pick(pins)], weak)
            self.volatile.add(name)
        return name

    def act_weak(self):
        plain = self.names_of(('ord', 'pin', 'perm', 'croot', 'dense'))
        special = self.names_of(('chain',))
        if special and self.rng.random() < 0.2:
            self.new_weak_to(self.pick(special), nolink=True,
                             cb_modes=(None, 'log'))
        elif plain:
            self.new_weak_to(self.pick(plain))
        else:
            self.act_new()

    # -- observations and the rest ------------------------------------------

    def act_observe(self):
        what = self.weighted({'deref': 3, 'referrers': 3, 'saved': 1,
                              'stats': 1})
        if what == 'deref':
            name = self.pick(self.names_of(kind=WeakM))
            if name:
                self.emit('deref', name)
        elif what == 'referrers':
            name = self.pick([n for n in self.bound if n not in self.volatile])
            if name:
                self.emit('referrers', name)
        else:
            self.emit(what)

    def act_collect(self):
        if self.rng.random() < self.k['young']:
            self.emit('collect', self.rng.choice('01'))
        elif self.rng.random() < 0.5:
            self.emit('collect')
        else:
            self.emit('collect', '2')

    def act_freeze(self):
        self.emit(self.rng.choice(('freeze', 'unfreeze', 'unfreeze')))

    def act_unsave(self):
        self.emit('unsave')

    # -- episodes ------------------------------------------------------------

    FLAVORS = {                 # finalizer modes of a chain or clique
        'plain': {}, 'log': {'log': 1},
        'clear': {'log': 3, 'clear': 2, 'drop': 1},
        'resurrect': {'log': 3, 'resurrect': 2},
        'mixed': {'log': 3, 'clear': 2, 'resurrect': 2, 'drop': 1},
    }

    def flavored_mode(self, name, flavor):
        """A finalizer mode for a chain or clique node of FLAVOR."""
        table = self.FLAVORS[flavor]
        if not table or self.rng.random() >= max(self.k['fin'], 0.3):
            return None
        mode = self.weighted(table)
        if mode == 'drop':
            mode = 'drop:' + self.drop_target(name, False)
        return mode

    def act_chain(self):
        """A pure chain: each node's first reference is the next node.

        Nothing else links into or out of it, so the order in which its
        deaths happen (trashcan or not) cannot change any result.
        """
        room = int(self.left() * self.k['chain_share']) // 3
        if room < 2:
            return
        low = max(2, self.k['chain_min'])
        length = min(self.rng.randint(low, max(low, self.k['chain_max'])),
                     room)
        flavor = self.rng.choice(sorted(self.FLAVORS))
        tag = self.fresh('c')
        prev = None
        head = None
        for i in range(length):
            name = '%s_%d' % (tag, i)
            node = self.new_node('chain', name,
                                 self.flavored_mode(name, flavor))
            if prev is None:
                head = node
            else:
                self.link(prev, node)
                if self.rng.random() < 0.02:
                    self.new_weak_to(prev.name, nolink=True,
                                     cb_modes=(None, 'log'))
                if prev is not head:
                    self.bound.pop(prev.name)
                    self.emit('drop', prev.name)
            prev = node
        if length > 1:
            if self.rng.random() < 0.4:
                self.link(prev, head)
            if self.rng.random() < 0.2:
                self.emit('referrers', prev.name)
            self.bound.pop(prev.name)
            self.emit('drop', prev.name)
        if self.rng.random() < 0.5:
            self.bound.pop(head.name)
            self.emit('drop', head.name)
            if self.rng.random() < 0.5:
                self.act_collect()

    def act_dense(self):
        """A clique: k nodes with most of the k*k links, then dropped."""
        size = self.rng.randint(2, max(2, self.k['dense_max']))
        while size > 2 and size * size + 2 * size > self.left() // 3:
            size -= 1
        if size * size + 2 * size > self.left():
            return
        flavor = self.rng.choice(sorted(self.FLAVORS))
        tag = self.fresh('q')
        nodes = []
        for i in range(size):
            name = '%s_%d' % (tag, i)
            nodes.append(self.new_node('dense', name,
                                       self.flavored_mode(name, flavor)))
        density = self.rng.uniform(0.3, 1.0)
        for src in nodes:
            for dst in nodes:
                if self.rng.random() < density:
                    self.link(src, dst)
        keep = self.rng.random() < 0.3
        for node in nodes[1:] if keep else nodes:
            self.bound.pop(node.name)
            self.emit('drop', node.name)
        if self.rng.random() < 0.6:
            self.act_collect()

    # -- driver --------------------------------------------------------------

    def build(self):
        """Emit operations until the target is reached."""
        for _ in range(self.rng.randint(1, 2)):
            self.new_node('perm', self.fresh('keep'), None)
        k = self.k
        actions = {
            self.act_new: 3.0, self.act_pin: 0.8, self.act_croot: k['croot'],
            self.act_link: 4.0, self.act_unlink: 0.8, self.act_clear: 0.4,
            self.act_drop: 2.5, self.act_weak: k['weak'],
            self.act_observe: k['observe'], self.act_collect: k['collect'],
            self.act_freeze: k['freeze'], self.act_unsave: k['unsave'],
            self.act_chain: k['chain'], self.act_dense: k['dense'],
        }
        while self.ops < self.target:
            live = len(self.bound) - len(self.volatile)
            if live > 40 and self.rng.random() < 0.5:
                self.act_drop()             # keep the live graph small
            else:
                self.weighted(actions)()


# ---------------------------------------------------------------------------
# Error lines

def error_line(gen):
    """One invalid operation line, chosen to be certainly invalid."""
    rng = gen.rng
    nodes = gen.names_of(('ord', 'pin', 'perm', 'dense', 'croot', 'chain'))
    weaks = gen.names_of(kind=WeakM)
    anyname = nodes + weaks
    ghost = gen.fresh('unbound')
    kinds = ['unknown', 'count', 'badname', 'unbound', 'badgen', 'finmode',
             'cbmode', 'finarg', 'cbarg', 'badchar', 'nul']
    if anyname:
        kinds += ['rebind', 'rebindweak']
    if weaks:
        kinds += ['notnode', 'weakweak']
    if nodes:
        kinds += ['derefnode']
    kind = rng.choice(kinds)
    name = rng.choice(anyname) if anyname else 'a'
    if kind == 'unknown':
        return rng.choice(['create', 'New', 'gc', 'link2', 'del', 'collect0',
                           'free', 'DROP', '_', 'x' * 80]) + ' ' + name
    if kind == 'count':
        op, good = rng.choice([('new', (1, 2)), ('link', (2,)),
                               ('unlink', (2,)), ('clear', (1,)),
                               ('drop', (1,)), ('weak', (2, 3)),
                               ('deref', (1,)), ('collect', (0, 1)),
                               ('freeze', (0,)), ('unfreeze', (0,)),
                               ('saved', (0,)), ('unsave', (0,)),
                               ('referrers', (1,)), ('stats', (0,))])
        n = rng.choice([c for c in range(5) if c not in good])
        return ' '.join([op] + [ghost] * n)
    if kind == 'badname':
        bad = rng.choice(['9lives', 'a-b', 'x.y', 'n' * 65, '$', 'a:b', '_-'])
        return rng.choice(['new %s', 'drop %s', 'link %s x',
                           'referrers %s', 'weak %s x']) % bad
    if kind == 'unbound':
        return rng.choice(['drop %s', 'clear %s', 'deref %s', 'referrers %s',
                           'link %s %s', 'weak w_%s %s']).replace('%s', ghost)
    if kind == 'badgen':
        return 'collect ' + rng.choice(['3', '-1', '01', 'x', '2.0', '+1'])
    if kind == 'finmode':
        return 'new %s fin=%s' % (ghost, rng.choice(
            ['zap', 'LOG', 'drop', 'drop:', 'drop:9x', 'resurect', '']))
    if kind == 'cbmode':
        target = rng.choice(nodes) if nodes else ghost
        return 'weak %s %s cb=%s' % (ghost, target, rng.choice(
            ['zap', 'resurrect', 'clear', 'drop:', 'collect']))
    if kind == 'finarg':
        return 'new %s %s' % (ghost, rng.choice(['log', 'fin', 'cb=log',
                                                 'FIN=log']))
    if kind == 'cbarg':
        target = rng.choice(nodes) if nodes else ghost
        return 'weak %s %s %s' % (ghost, target, rng.choice(
            ['log', 'fin=log', 'callback=log']))
    if kind == 'badchar':
        byte = rng.choice(list(range(0x80, 0x100)) + [0x7f, 0x01, 0x1b])
        return 'new a' + chr(byte)
    if kind == 'nul':
        return 'drop ' + name + '\x00'
    if kind == 'rebind':
        return 'new ' + name
    if kind == 'rebindweak':
        return 'weak %s %s' % (name, rng.choice(nodes) if nodes else name)
    if kind == 'notnode':
        return rng.choice(['link %s %s', 'unlink %s %s', 'clear %s']) \
            .replace('%s', rng.choice(weaks), 1).replace('%s', name)
    if kind == 'weakweak':
        return 'weak %s %s' % (ghost, rng.choice(weaks))
    return 'deref ' + rng.choice(nodes)


# ---------------------------------------------------------------------------
# Noise: white space, blank lines and comments the parser must skip

def noisy(rng, line, rate):
    """Return LINE with odd separators, maybe preceded by skipped lines."""
    if rng.random() >= rate:
        return [line]
    out = []
    roll = rng.random()
    if roll < 0.3:
        out.append(rng.choice(['', '   ', '\t\r', '\x0b\x0c']))
    elif roll < 0.6:
        out.append(rng.choice(['# comment', '#', '  #\tindented', '##',
                               '# caf\u00e9 \x00\x80\xff', '#new x']))
    seps = [' ', '  ', '\t', '\x0b', '\x0c', ' \t ']
    words = line.split(' ')
    text = rng.choice(seps).join(words) if rng.random() < 0.5 else line
    text = rng.choice(['', ' ', '\t']) + text + rng.choice(['', '\r', ' ',
                                                            ' \r'])
    out.append(text)
    return out


def render(gen, seed, profile, knobs, error):
    """(scenario bytes, number of the error line or None)."""
    rng = gen.rng
    header = '# gen.py seed=%d profile=%s ' % (seed, profile) + ' '.join(
        '%s=%s' % (k, knobs[k]) for k in sorted(knobs))
    lines = [header]
    for line in gen.lines:
        lines.extend(noisy(rng, line, knobs['noise']))
    error_at = None
    if error:
        lines.append(error_line(gen))
        error_at = len(lines)
        for _ in range(rng.randint(0, 2)):  # never executed
            lines.append(rng.choice(['collect', 'new zz_after', 'stats']))
    text = '\n'.join(lines)
    if rng.random() < 0.9:
        text += '\n'
    return text.encode('latin-1'), error_at


def knobs_for(seed, profile, overrides):
    """Effective knob values: defaults, then the profile, then overrides."""
    rng = random.Random(seed)
    if profile is None:
        profile = rng.choice(sorted(PROFILES))
    knobs = dict(DEFAULTS)
    knobs.update(PROFILES[profile])
    knobs.update({k: v for k, v in overrides.items() if v is not None})
    if isinstance(knobs['ops'], tuple):
        knobs['ops'] = rng.randint(*knobs['ops'])
    knobs['ops'] = max(0, min(knobs['ops'], 10000))
    return profile, knobs, rng


def generate_v2(seed, profile=None):
    """A version-2 scenario (gen2.py): (profile, bytes, error line)."""
    import gen2
    rng = random.Random(seed)
    if profile is None:
        profile = rng.choice(sorted(gen2.PROFILES))
    knobs = dict(gen2.DEFAULTS)
    knobs.update(gen2.PROFILES[profile])
    knobs['ops'] = rng.randint(*knobs['ops'])
    data, error_at = gen2.generate(seed, profile, rng, knobs)
    return profile, data, error_at


def generate(seed, profile=None, overrides=None, v2=False):
    """Return (profile, scenario bytes, error line number or None)."""
    if v2:
        return generate_v2(seed, profile)
    profile, knobs, rng = knobs_for(seed, profile, overrides or {})
    gen = Generator(rng, knobs, knobs['ops'])
    gen.build()
    error = rng.random() < knobs['error']
    data, error_at = render(gen, seed, profile, knobs, error)
    return profile, data, error_at


def parse_seeds(text):
    """'A-B' or 'N' -> range."""
    if '-' in text:
        a, b = text.split('-', 1)
        return range(int(a), int(b) + 1)
    return range(int(text), int(text) + 1)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--seed', type=int, help='seed (default: random)')
    ap.add_argument('--seeds', help='A-B: one file per seed (needs --out-dir)')
    ap.add_argument('--out-dir', help='directory for --seeds')
    ap.add_argument('-o', '--output', help='file (default: stdout)')
    ap.add_argument('--v2', action='store_true',
                    help='scenario format version 2 (gen2.py; knobs ignored)')
    ap.add_argument('--profile',
                    help='knob preset (default: chosen from the seed): %s; '
                    'with --v2: v2-*' % ', '.join(sorted(PROFILES)))
    for key, value in DEFAULTS.items():
        kind = float if isinstance(value, float) else int
        ap.add_argument('--' + key.replace('_', '-'), type=kind, dest=key,
                        help='default %s' % (value,))
    args = ap.parse_args(argv[1:])
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import gen2
    if args.profile is not None and args.profile not in (
            gen2.PROFILES if args.v2 else PROFILES):
        ap.error('unknown profile %r' % args.profile)
    overrides = {k: getattr(args, k) for k in DEFAULTS}
    if args.seeds:
        if not args.out_dir:
            ap.error('--seeds needs --out-dir')
        os.makedirs(args.out_dir, exist_ok=True)
        for seed in parse_seeds(args.seeds):
            _, data, _ = generate(seed, args.profile, overrides, args.v2)
            with open(os.path.join(args.out_dir, 'gen-%d.scn' % seed),
                      'wb') as f:
                f.write(data)
        return 0
    seed = args.seed if args.seed is not None \
        else int.from_bytes(os.urandom(4), 'big')
    profile, data, _ = generate(seed, args.profile, overrides, args.v2)
    sys.stderr.write('gen.py: seed %d profile %s\n' % (seed, profile))
    if args.output:
        with open(args.output, 'wb') as f:
            f.write(data)
    else:
        sys.stdout.buffer.write(data)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
