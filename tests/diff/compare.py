#!/usr/bin/env python3
"""Run two scenario runners on the same files and compare their logs.

    compare.py [options] FILE...                 runner A against runner B
    compare.py --expected [options] FILE...      stored NAME.out/.err against B
    compare.py --record [options] FILE...        write NAME.out/.err from A
    compare.py --gen-seeds 1-500 [options]       also generate and compare
                                                 (gen.py, 500 files at a time)

Runner A defaults to the CPython oracle (python3 tests/diff/oracle.py), runner
B to the C runner (build/bin/rcgc-scenario); each command gets the scenario
file as its last argument.  Two runs agree, as the contract says, when their
event logs sorted by (line number, event text) are equal; the exit statuses
and the standard error texts (the "scenario:LINE: error: WHAT" line) must be
equal too.  On a difference it prints the scenario file, the seed found in
its first comment lines (gen.py writes "seed=N"), and the first differing
line of each log.  Exit status 0 when every file agrees, 1 otherwise.

Expected files (tests/diff/cases): NAME.out holds the oracle's standard
output; NAME.err exists only for a scenario that stops with an error and
holds its standard error; the expected status is 2 when NAME.err exists and
is not empty, 0 otherwise.
"""

import argparse
import concurrent.futures
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_A = '%s %s' % (shlex.quote(sys.executable),
                       shlex.quote(os.path.join(HERE, 'oracle.py')))
DEFAULT_B = shlex.quote(os.path.join(REPO, 'build', 'bin', 'rcgc-scenario'))
EVENT_RE = re.compile(r'(\d+) (.*)\Z', re.S)
SEED_RE = re.compile(rb'seed[=: ]\s*(\d+)')


class Run:
    """The outcome of one runner on one file."""

    def __init__(self, status, stdout, stderr, note=None):
        self.status = status        # exit status (None: did not finish)
        self.stdout = stdout        # text
        self.stderr = stderr        # text
        self.note = note            # why it did not finish, if so

    def events(self):
        """The log sorted as the contract says: by (line number, text)."""
        keyed = []
        lines = self.stdout.split('\n')
        if lines[-1] == '':
            lines.pop()
        for line in lines:
            m = EVENT_RE.match(line)
            keyed.append((int(m.group(1)), m.group(2)) if m else (-1, line))
        keyed.sort()
        return ['%d %s' % k if k[0] >= 0 else k[1] for k in keyed]


def run_command(command, path, timeout):
    """Run COMMAND PATH; never raises."""
    argv = shlex.split(command) + [path]
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Run(None, '', '', 'timed out after %gs' % timeout)
    except OSError as err:
        return Run(None, '', '', 'cannot run %s: %s' % (argv[0], err.strerror))
    return Run(done.returncode,
               done.stdout.decode('latin-1'), done.stderr.decode('latin-1'))


_SERVERS = threading.local()
_ALL_SERVERS = []


def batch_oracle_run(path, timeout):
    """Runner A through one `oracle.py --serve` process per worker thread
    (--batch): the same outcome as running the oracle on PATH, without an
    interpreter start-up per file."""
    server = getattr(_SERVERS, 'proc', None)
    if server is None or server.poll() is not None:
        server = subprocess.Popen(
            [sys.executable, os.path.join(HERE, 'oracle.py'), '--serve',
             str(timeout)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        _SERVERS.proc = server
        _ALL_SERVERS.append(server)
    path = os.path.abspath(path)
    try:
        server.stdin.write(path.encode('utf-8', 'surrogateescape') + b'\n')
        server.stdin.flush()
        answer = server.stdout.readline().decode().strip()
    except OSError as err:
        return Run(None, '', '', 'oracle server: %s' % err)
    outputs = []
    for suffix in ('.oracle-out', '.oracle-err'):
        try:
            with open(path + suffix, 'rb') as f:
                outputs.append(f.read().decode('latin-1'))
            os.remove(path + suffix)
        except OSError:
            outputs.append('')
    if answer == 'timeout':
        return Run(None, '', '', 'timed out after %gs' % timeout)
    if not answer.lstrip('-').isdigit():
        return Run(None, '', '', 'oracle server answered %r' % answer)
    return Run(int(answer), outputs[0], outputs[1])


def stop_servers():
    for server in _ALL_SERVERS:
        try:
            server.stdin.close()
            server.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            server.kill()


def stored_run(path):
    """The expected outcome kept next to a case file."""
    base = os.path.splitext(path)[0]
    try:
        with open(base + '.out', 'rb') as f:
            stdout = f.read().decode('latin-1')
    except OSError:
        return Run(None, '', '', 'no expected output %s.out' % base)
    stderr = ''
    if os.path.exists(base + '.err'):
        with open(base + '.err', 'rb') as f:
            stderr = f.read().decode('latin-1')
    return Run(2 if stderr else 0, stdout, stderr)


def record(path, result):
    """Write NAME.out (and NAME.err for an error) from RESULT."""
    base = os.path.splitext(path)[0]
    with open(base + '.out', 'wb') as f:
        f.write(result.stdout.encode('latin-1'))
    if result.status != 0:
        with open(base + '.err', 'wb') as f:
            f.write(result.stderr.encode('latin-1'))
    elif os.path.exists(base + '.err'):
        os.remove(base + '.err')


def first_difference(a_lines, b_lines):
    """(index, line of A, line of B) at the first difference, or None."""
    for i in range(max(len(a_lines), len(b_lines))):
        a = a_lines[i] if i < len(a_lines) else '(end of log)'
        b = b_lines[i] if i < len(b_lines) else '(end of log)'
        if a != b:
            return i, a, b
    return None


def differences(a, b):
    """Human-readable lines describing how runs A and B differ (or [])."""
    for name, r in (('A', a), ('B', b)):
        if r.status is None:
            return ['runner %s: %s' % (name, r.note)]
    out = []
    if a.status != b.status:
        out.append('exit status: A %d, B %d' % (a.status, b.status))
    diff = first_difference(a.events(), b.events())
    if diff is not None:
        out.append('first difference in the sorted event logs (entry %d):'
                   % (diff[0] + 1))
        out.append('  A: ' + diff[1])
        out.append('  B: ' + diff[2])
    diff = first_difference(a.stderr.split('\n'), b.stderr.split('\n'))
    if diff is not None:
        out.append('standard error differs:')
        out.append('  A: ' + diff[1])
        out.append('  B: ' + diff[2])
    return out


def seed_of(path):
    """The seed named in the file's leading comment lines, or None."""
    try:
        with open(path, 'rb') as f:
            head = f.read(4096)
    except OSError:
        return None
    for line in head.split(b'\n')[:5]:
        if line.lstrip().startswith(b'#'):
            m = SEED_RE.search(line)
            if m:
                return m.group(1).decode()
    return None


def check_file(path, args):
    """Compare one file; return (path, list of difference lines)."""
    if args.record:
        result = run_command(args.runner_a, path, args.timeout)
        if result.status is None:
            return path, ['runner A: ' + result.note]
        record(path, result)
        return path, []
    if args.expected:
        a = stored_run(path)
    elif args.batch:
        a = batch_oracle_run(path, args.timeout)
    else:
        a = run_command(args.runner_a, path, args.timeout)
    b = run_command(args.runner_b, path, args.timeout)
    return path, differences(a, b)


def generate(first, last, gen_args, directory):
    """Write gen.py scenarios for seeds FIRST..LAST into DIRECTORY."""
    argv = [sys.executable, os.path.join(HERE, 'gen.py'), '--seeds',
            '%d-%d' % (first, last), '--out-dir', directory] \
        + shlex.split(gen_args)
    subprocess.run(argv, check=True)
    return [os.path.join(directory, 'gen-%d.scn' % s)
            for s in range(first, last + 1)]


def seed_batches(text, size=500):
    """'A-B' -> (first, last) batches of at most SIZE seeds ('' -> none)."""
    if not text:
        return
    first, _, last = text.partition('-')
    first, last = int(first), int(last or first)
    for start in range(first, last + 1, size):
        yield start, min(last, start + size - 1)


def report(path, lines, keep_dir):
    """Print one difference; keep a generated file that failed."""
    seed = seed_of(path)
    print('DIFFERENT: %s%s' % (path, ' (seed %s)' % seed if seed else ''))
    for line in lines:
        print('  ' + line)
    if keep_dir:
        os.makedirs(keep_dir, exist_ok=True)
        kept = os.path.join(keep_dir, os.path.basename(path))
        shutil.copyfile(path, kept)
        print('  kept as ' + kept)
    sys.stdout.flush()


def main(argv):
    ap = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    ap.add_argument('files', nargs='*', help='scenario files')
    ap.add_argument('-a', '--runner-a', default=DEFAULT_A,
                    help='command of runner A (default: the oracle)')
    ap.add_argument('-b', '--runner-b', default=DEFAULT_B,
                    help='command of runner B (default: %(default)s)')
    ap.add_argument('--expected', action='store_true',
                    help='use the stored NAME.out/NAME.err as runner A')
    ap.add_argument('--record', action='store_true',
                    help='write NAME.out/NAME.err from runner A, compare none')
    ap.add_argument('--gen-seeds', metavar='A-B',
                    help='also compare gen.py scenarios for these seeds')
    ap.add_argument('--gen-args', default='', help='extra gen.py arguments')
    ap.add_argument('--keep', metavar='DIR',
                    help='copy generated scenarios that differ into DIR')
    ap.add_argument('-j', '--jobs', type=int, default=os.cpu_count() or 1)
    ap.add_argument('--timeout', type=float, default=120.0,
                    help='seconds per run (default %(default)s)')
    ap.add_argument('--batch', action='store_true',
                    help='runner A is the oracle in batch mode (oracle.py '
                    '--serve: one process per job, a fork per file)')
    ap.add_argument('-q', '--quiet', action='store_true',
                    help='print only differences and the summary')
    args = ap.parse_args(argv[1:])
    if args.expected and args.record:
        ap.error('--expected and --record exclude each other')

    if not args.files and not args.gen_seeds:
        ap.error('no scenario files')
    if args.gen_seeds and args.keep is None:
        args.keep = os.path.join(tempfile.gettempdir(), 'rcgc-diff-failures')

    counts = [0, 0]                         # files, differences
    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        compare_all(pool, args.files, args, None, counts)
        for first, last in seed_batches(args.gen_seeds or ''):
            tmp = tempfile.mkdtemp(prefix='rcgc-diff-')
            try:
                paths = generate(first, last, args.gen_args, tmp)
                compare_all(pool, paths, args, args.keep, counts)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    stop_servers()
    verb = 'recorded' if args.record else 'same'
    print('compare.py: %d scenario(s), %d %s, %d different or failed'
          % (counts[0], counts[0] - counts[1], verb, counts[1]))
    return 1 if counts[1] else 0


def compare_all(pool, paths, args, keep_dir, counts):
    """Check PATHS in parallel, report each difference, update COUNTS."""
    for path, lines in pool.map(lambda p: check_file(p, args), paths):
        counts[0] += 1
        if lines:
            counts[1] += 1
            report(path, lines, keep_dir)
        elif not args.quiet and not args.record:
            print('same: ' + path)


if __name__ == '__main__':
    sys.exit(main(sys.argv))
