#!/usr/bin/python3
"""Mutation fuzzing of what users hand to tqplan: account CSVs, territories CSVs,
scenario files and model JSON. Every run must end with a documented exit status (0-2,
or 3 only where a file cannot be written), say 'error' when it fails, leave the output
only when it succeeds, finish within the time limit, and (in the sanitizer build) leave
no AddressSanitizer/UBSan report.

usage: fuzz_inputs.py TQPLAN DATA_DIR WORK_DIR [iterations per kind] [seed]
Deterministic for a seed. Failing inputs are kept in WORK_DIR/failed/ with the command.
"""
import json, os, random, shutil, subprocess, sys

T, DATA, W = sys.argv[1], sys.argv[2], sys.argv[3]
ITERS = int(sys.argv[4]) if len(sys.argv) > 4 else 150
SEED = int(sys.argv[5]) if len(sys.argv) > 5 else 1
ENV = dict(os.environ, OMP_WAIT_POLICY='passive',
           UBSAN_OPTIONS=os.environ.get('UBSAN_OPTIONS', 'print_stacktrace=1:halt_on_error=1'))
os.makedirs(os.path.join(W, 'failed'), exist_ok=True)

CRM = (b'id;lat;lon;workload;value;label;f_rev;o_size;c_ind;locked\n'
       b'x1;48,85;2,35;3,5;"1.000,25";Won;12,5;1 - 10;retail;0\n'
       b'x2;40,71;-74,0;2;;Lost;NA;50-199;health;1\n'
       b'x3;51,5;-0,12;1;500;;7;$500K - $1M;;0\n'
       b'x4;35,6;139,7;4,25;2500;Won;;200+;tech;false\n')
PLAN = '''[plan]
out = OUT
[data]
generate = yes
n = 300
k = 3
features = 2
seed = 7
[train]
epochs = 2
[cluster]
k = 3
[scenario a]
centers = fixed
tol_workload = 15%
tol_potential = 15%
[scenario b]
centers = kmeans
tol_workload = 20%
tol_potential = 20%
max_moved = 40%
[quota]
target = 1e6
[report]
enabled = yes
'''
FIELDS = [b'', b'NaN', b'inf', b'-0', b'1e309', b'1e-400', b'"', b'""', b'\x00', b'\xff\xfe',
          b'\xc3', b'  5 ', b'+', b'-', b'.', b'1,000', b'$1,234.50', b'12,34', b'0x10',
          b'99999999999999999999999', b'x' * 3000, b'1 - 10%', b'$1-5M', b'NA', b'Won',
          b'true', b'\r', b'\n', b',', b';', b'180.0000001', b'-90', b'1.5.5', b'1e']
VALUES = ['', '0', '-1', '1', '1e308', 'nan', 'yes', 'no', 'x' * 500, '100%', '0%', '-5%',
          '999999', 'a b', ';c', '=', 'fixed', 'kmeans', '/nonexistent/x', 'NA, n/a']
KEYS = ['n', 'k', 'seed', 'features', 'epochs', 'target', 'alpha', 'frontier', 'max_moved',
        'balance', 'tol_count', 'centers', 'enabled', 'model', 'map', 'positive', 'missing',
        'bogus', 'out', 'exact', 'iters', 'fairness', 'beta', 'from', 'write_lp', 'unit']
SECTIONS = ['[plan]', '[data]', '[train]', '[score]', '[cluster]', '[scenario c]',
            '[scenario a]', '[scenario]', '[scenario x/y]', '[quota]', '[report]', '[bogus]',
            '[', '[]']


def mutate_bytes(d, r):
    lines = d.split(b'\n')
    for _ in range(r.randint(1, 4)):
        op, i = r.randrange(7), r.randrange(len(lines))
        sep = b';' if b';' in lines[0] else b','
        if op == 0:
            b = bytearray(b'\n'.join(lines))
            b[r.randrange(len(b))] = r.randrange(256)
            lines = bytes(b).split(b'\n')
        elif op == 1:
            lines.insert(i, lines[r.randrange(len(lines))])
        elif op == 2 and len(lines) > 1:
            del lines[i]
        elif op in (3, 4):
            f = lines[i].split(sep)
            f[r.randrange(len(f))] = r.choice(FIELDS)
            lines[i] = sep.join(f)
        elif op == 5:
            b = b'\n'.join(lines)
            j = r.randrange(len(b) + 1)
            lines = (b[:j] + b[j + r.randint(1, 20):]).split(b'\n')
        else:
            b = b'\n'.join(lines)
            j = r.randrange(len(b) + 1)
            lines = (b[:j] + r.choice(FIELDS) + b[j:]).split(b'\n')
    return b'\n'.join(lines)


def mutate_plan(r):
    L = PLAN.split('\n')
    for _ in range(r.randint(1, 3)):
        op, i = r.randrange(6), r.randrange(len(L))
        if op == 0:
            del L[i]
        elif op == 1:
            L.insert(i, r.choice(KEYS) + ' = ' + r.choice(VALUES))
        elif op == 2 and '=' in L[i] and not L[i].startswith('out'):
            L[i] = L[i].split('=')[0] + '= ' + r.choice(VALUES)
        elif op == 3:
            L.insert(i, r.choice(SECTIONS))
        elif op == 4:
            L.insert(i, L[r.randrange(len(L))])
        else:
            L[i] = L[i][:r.randrange(len(L[i]) + 1)]
    return '\n'.join(L)


def mutate_model(base, r):
    m = json.loads(json.dumps(base))
    for _ in range(r.randint(1, 3)):
        k = r.choice(list(m))
        v = r.choice([None, 0, -1, 1e308, '', 'x', [], {}, [1, 2], True, 'a' * 2000])
        op = r.randrange(3)
        if op == 0:
            m[k] = v
        elif op == 1:
            del m[k]
        elif isinstance(m.get(k), list) and m[k]:
            m[k][r.randrange(len(m[k]))] = v
    return json.dumps(m).encode()


def run(kind, it, cmd, out, inputs, may_fail_io=False):
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=300, env=ENV, cwd=W)
        rc, err = p.returncode, p.stderr
    except subprocess.TimeoutExpired:
        rc, err = 'timeout', b''
    ok_rc = (0, 1, 2, 3) if may_fail_io else (0, 1, 2)
    wrong = (rc not in ok_rc or b'Sanitizer' in err or b'runtime error' in err or
             (rc != 0 and b'error' not in err) or (out and (rc == 0) != os.path.exists(out)))
    if wrong:
        d = os.path.join(W, 'failed', '%s_%d' % (kind, it))
        os.makedirs(d, exist_ok=True)
        for name, data in inputs.items():
            open(os.path.join(d, name), 'wb').write(data)
        open(os.path.join(d, 'cmd'), 'w').write(' '.join(cmd) + '\nrc=%s\n' % rc)
        open(os.path.join(d, 'stderr'), 'wb').write(err[-5000:])
        print('FAIL %s %d: rc=%s %s' % (kind, it, rc, err[-300:]), flush=True)
    return not wrong


good = open(os.path.join(DATA, 'accounts_good.csv'), 'rb').read()
terr = open(os.path.join(DATA, 'territories_good.csv'), 'rb').read()
open(os.path.join(W, 'terr.csv'), 'wb').write(terr)
open(os.path.join(W, 'good.csv'), 'wb').write(good)
subprocess.run([T, 'generate', '-n', '400', '-k', '4', '--features', '3', '--seed', '3', '-o',
                os.path.join(W, 'base.h5'), '-q'], check=True, env=ENV)
subprocess.run([T, 'train', os.path.join(W, 'base.h5'), '-q', '--model-out',
                os.path.join(W, 'model.json')], check=True, env=ENV)
model = json.load(open(os.path.join(W, 'model.json')))
bad = 0
for it in range(ITERS):
    r = random.Random(SEED * 1000003 + it)
    out = os.path.join(W, 'out.h5')
    # accounts CSV, with several option sets
    kind = r.randrange(4)
    src = CRM if kind == 3 else good
    data = mutate_bytes(src, r)
    open(os.path.join(W, 'in.csv'), 'wb').write(data)
    opts = [['--territories', 'terr.csv', '--ignore-unknown'],
            ['--territories', 'terr.csv', '--rest', 'c', '--indicator', 'all'],
            ['--territories', 'terr.csv', '--ignore-unknown', '--thousands', ','],
            ['--delimiter', ';', '--decimal', ',', '--thousands', '.', '--positive', 'Won',
             '--missing', 'NA', '--indicator', 'all']][kind]
    if os.path.exists(out):
        os.remove(out)
    bad += not run('csv', it, [T, 'import', 'in.csv', '-o', out, '-q'] + opts, out,
                   {'in.csv': data})
    # territories CSV
    tdata = mutate_bytes(terr, r)
    open(os.path.join(W, 'tin.csv'), 'wb').write(tdata)
    if os.path.exists(out):
        os.remove(out)
    bad += not run('territories', it, [T, 'import', 'good.csv', '--territories', 'tin.csv',
                                       '--ignore-unknown', '-o', out, '-q'], out,
                   {'tin.csv': tdata})
    # model JSON
    mdata = mutate_model(model, r)
    open(os.path.join(W, 'm.json'), 'wb').write(mdata)
    shutil.copy(os.path.join(W, 'base.h5'), os.path.join(W, 's.h5'))
    bad += not run('model', it, [T, 'score', 's.h5', '--model', 'm.json', '-q'], None,
                   {'m.json': mdata})
    # scenario file (every 3rd iteration: a plan runs several stages)
    if it % 3 == 0:
        pdir = os.path.join(W, 'plan')
        shutil.rmtree(pdir, ignore_errors=True)
        text = mutate_plan(r).replace('OUT', pdir).encode()
        open(os.path.join(W, 's.ini'), 'wb').write(text)
        bad += not run('plan', it, [T, 'plan', 's.ini', '-q'], None, {'s.ini': text},
                       may_fail_io=b'/nonexistent' in text)
print('fuzz_inputs: %d iterations, %d failures' % (ITERS, bad))
sys.exit(1 if bad else 0)
