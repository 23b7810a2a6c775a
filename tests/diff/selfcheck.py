#!/usr/bin/env python3
"""Check the oracle itself on generated scenarios and on the cases.

    selfcheck.py [--seeds 1-3000] [-j N] [--timeout S] [--cases DIR] [--v2]

For every generated scenario (gen.py, profile chosen from the seed):
  - the oracle finishes within the timeout, with status 0, or with status 2
    and the error reported at the generator's deliberate error line;
  - it is deterministic: two runs with different PYTHONHASHSEED values give
    byte-identical standard output, standard error and status;
  - with --debug-collectable (gc.DEBUG_COLLECTABLE), the only objects the
    collector ever finds unreachable are Node and Ref instances (version 2:
    also DelNode, plain weakref.ref objects, weak methods (WMethod) and
    their function references (FuncRef); never a container, an entry's
    weak reference, a finalize object or anything of the oracle's own),
    and the event log is unchanged.
With --v2, also a mutant of each generated file (a few tokens replaced):
the oracle ends with status 0 or 2, never an internal error, in time.
For every case under --cases: the stored NAME.out/NAME.err still match the
oracle byte for byte.  Prints a summary with timings; exit status 0 or 1.
"""

import argparse
import concurrent.futures
import glob
import os
import random
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True          # no __pycache__ in the source tree
import gen  # noqa: E402

ORACLE = os.path.join(HERE, 'oracle.py')
COLLECTABLE_RE = re.compile(r'gc: (?:un)?collectable <([\w.]+) ')
# what the collector may find unreachable: the scenario's own objects
SCENARIO_TYPES = {'Node', 'Ref', 'DelNode', 'weakref.ReferenceType',
                  'WMethod', 'FuncRef'}


def oracle(path, hashseed, timeout, debug=False):
    """Run the oracle; return (status, stdout, stderr, seconds)."""
    env = dict(os.environ, PYTHONHASHSEED=str(hashseed))
    argv = [sys.executable, ORACLE] + (['--debug-collectable'] if debug
                                       else []) + [path]
    start = time.monotonic()
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout,
                              env=env, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, b'', b'', timeout
    return done.returncode, done.stdout, done.stderr, \
        time.monotonic() - start


def check_seed(seed, directory, timeout, v2=False):
    """All checks for one seed; return (seed, profile, problems, seconds)."""
    profile, data, error_at = gen.generate(seed, v2=v2)
    path = os.path.join(directory, 'gen-%d.scn' % seed)
    with open(path, 'wb') as f:
        f.write(data)
    problems = []
    first = oracle(path, seed % 4096, timeout)
    if first[0] is None:
        return seed, profile, ['timed out after %gs' % timeout], timeout
    second = oracle(path, (seed * 7 + 1) % 4096 + 1, timeout)
    if second[:3] != first[:3]:
        problems.append('not deterministic across PYTHONHASHSEED')
    status, out, err, seconds = first
    if error_at is None:
        if status != 0 or err:
            problems.append('status %s, stderr %r' % (status, err[:200]))
    else:
        want = b'scenario:%d: error: ' % error_at
        if status != 2 or not err.startswith(want) or err.count(b'\n') != 1:
            problems.append('expected an error at line %d, got status %s, '
                            'stderr %r' % (error_at, status, err[:200]))
    debug = oracle(path, 0, timeout, debug=True)
    if debug[1] != out:
        problems.append('--debug-collectable changed the events')
    kinds = set(COLLECTABLE_RE.findall(debug[2].decode('latin-1')))
    if kinds - SCENARIO_TYPES:
        problems.append('unexpected garbage types %s' % sorted(kinds))
    if v2:
        problems += check_mutant(seed, data, directory, timeout)
    if not problems:
        os.remove(path)
    return seed, profile, problems, seconds


MUTANT_TOKENS = [b'version', b'2', b'ordered', b'fin=', b'del=deref:a:',
                 b'cb=collect', b'new:', b'untracked', b'plain', b'on',
                 b'2147483648', b'\x00', b'\xff', b'#', b'', b'x' * 70,
                 b'collect', b'ungarbage', b'unsave', b'gccb', b'threshold',
                 b'wvd', b'wkd', b'wset', b'put', b'add', b'del', b'discard',
                 b'get', b'has', b'len', b'items', b'clear', b'iter', b'next',
                 b'wmethod', b'finalize', b'fn=collect', b'fn=deref:x:y',
                 b'call', b'detach', b'peek', b'alive', b'drop']


def check_mutant(seed, data, directory, timeout):
    """A version-2 file with a few random token edits: the oracle still
    ends with status 0 or 2 (never an internal error), in time."""
    rng = random.Random(seed)
    lines = data.split(b'\n')
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(lines))
        words = lines[i].split(b' ')
        j = rng.randrange(len(words))
        words[j] = rng.choice(MUTANT_TOKENS + [words[rng.randrange(len(words))]])
        lines[i] = b' '.join(words)
    path = os.path.join(directory, 'mutant-%d.scn' % seed)
    with open(path, 'wb') as f:
        f.write(b'\n'.join(lines))
    status, _, err, _ = oracle(path, 0, timeout)
    if status not in (0, 2):
        return ['mutant %s: status %s, stderr %r' % (path, status, err[:200])]
    os.remove(path)
    return []


def check_case(path, timeout):
    """The stored expectation of one case still matches; return problems."""
    base = os.path.splitext(path)[0]
    status, out, err, _ = oracle(path, 1, timeout)
    with open(base + '.out', 'rb') as f:
        want_out = f.read()
    want_err = b''
    if os.path.exists(base + '.err'):
        with open(base + '.err', 'rb') as f:
            want_err = f.read()
    want_status = 2 if want_err else 0
    if (status, out, err) != (want_status, want_out, want_err):
        return ['%s: oracle output differs from %s.out/.err' % (path, base)]
    return []


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--seeds', default='1-300', help='A-B (default 1-300)')
    ap.add_argument('--cases', default=os.path.join(HERE, 'cases'))
    ap.add_argument('-j', '--jobs', type=int, default=os.cpu_count() or 1)
    ap.add_argument('--timeout', type=float, default=120.0)
    ap.add_argument('--v2', action='store_true',
                    help='generate version-2 scenarios (gen.py --v2)')
    args = ap.parse_args(argv[1:])
    failures = 0
    start = time.monotonic()
    cases = sorted(glob.glob(os.path.join(args.cases, '*.scn')))
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        for problems in pool.map(lambda p: check_case(p, args.timeout),
                                 cases):
            for problem in problems:
                failures += 1
                print('FAIL ' + problem)
    print('cases: %d checked in %.1fs' % (len(cases), time.monotonic() - start))

    keep = tempfile.mkdtemp(prefix='rcgc-selfcheck-')
    seeds = gen.parse_seeds(args.seeds)
    start = time.monotonic()
    slowest = (0.0, None)
    per_profile = {}
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        jobs = pool.map(lambda s: check_seed(s, keep, args.timeout, args.v2),
                        seeds)
        for seed, profile, problems, seconds in jobs:
            per_profile[profile] = per_profile.get(profile, 0) + 1
            slowest = max(slowest, (seconds, seed))
            for problem in problems:
                failures += 1
                print('FAIL seed %d (%s): %s  [kept in %s]'
                      % (seed, profile, problem, keep))
    print('seeds %s: %d scenarios in %.1fs, slowest oracle run %.2fs '
          '(seed %s)' % (args.seeds, len(seeds), time.monotonic() - start,
                         slowest[0], slowest[1]))
    print('profiles: ' + ', '.join('%s %d' % kv
                                   for kv in sorted(per_profile.items())))
    if not os.listdir(keep):
        os.rmdir(keep)
    print('selfcheck: %s' % ('%d failure(s)' % failures if failures
                             else 'ok'))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
