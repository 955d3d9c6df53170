#!/usr/bin/env python3
# A stand-in for `btrfs-vault serve` (docs/SERVER.md) until the real one is built: the
# protocol's replies, without its guards. Used as a forced command: ARGV serve --root R.
import json, os, re, subprocess, sys
root = sys.argv[sys.argv.index('--root') + 1]
line = os.environ.get('SSH_ORIGINAL_COMMAND', '')
NAME = re.compile(r'^[A-Za-z0-9@_+][A-Za-z0-9@_+.=-]{0,127}$')
def refuse(msg, code=2):
    sys.stderr.write(f'btrfs-vault serve: {msg}; check the client\n'); sys.exit(code)
w = line.split(' ')
def show(p):
    out = subprocess.run(['btrfs', 'subvolume', 'show', '--', p], capture_output=True, text=True).stdout
    get = lambda k: (re.search(rf'^\s*{k}:\s*(\S+)', out, re.M) or [None, '-'])[1]
    return {'uuid': get('UUID'), 'receivedUuid': get('Received UUID'), 'parentUuid': None if get('Parent UUID') == '-' else get('Parent UUID'),
            'readonly': 'readonly' in (re.search(r'^\s*Flags:\s*(.*)$', out, re.M) or [None, ''])[1]}
def folder(f):
    d = os.path.join(root, f); bs = []
    for n in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        p = os.path.join(d, n)
        if n == 'latest' or os.path.islink(p) or not os.path.isdir(p): continue
        s = show(p)
        if s['readonly'] and s['receivedUuid'] != '-': bs.append({'name': n, **s})
    latest = os.readlink(os.path.join(d, 'latest')) if os.path.islink(os.path.join(d, 'latest')) else None
    return {'latest': latest, 'backups': bs}
if w[0] == 'hello' and len(w) == 1:
    st = os.statvfs(root); print(json.dumps({'protocol': 1, 'version': 'standin', 'freeBytes': st.f_bavail * st.f_frsize}))
elif w[0] == 'list' and len(w) <= 2:
    fs = [w[1]] if len(w) == 2 else [n for n in os.listdir(root) if not n.startswith('.')]
    print(json.dumps({'folders': {f: folder(f) for f in fs if os.path.isdir(os.path.join(root, f))}}))
elif w[0] == 'receive' and len(w) == 5:
    f, n, u, par = w[1:]
    if not NAME.match(f) or not NAME.match(n): refuse('bad name')
    if par != '-' and not any(b['receivedUuid'] == par for b in folder(f)['backups']): refuse('the parent is not here', 3)
    stage = os.path.join(root, '.incoming', f'{n}.{os.getpid()}'); os.makedirs(stage)
    r = subprocess.run(['btrfs', 'receive', '-e', '--', stage], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        for e in os.listdir(stage): subprocess.run(['btrfs', 'subvolume', 'delete', os.path.join(stage, e)], capture_output=True)
        os.rmdir(stage); refuse(f'the stream failed: {r.stderr.strip()}', 1)
    os.makedirs(os.path.join(root, f), exist_ok=True)
    subprocess.run(['btrfs', 'subvolume', 'snapshot', '-r', os.path.join(stage, n), os.path.join(root, f, n)], check=True, capture_output=True)
    subprocess.run(['btrfs', 'subvolume', 'delete', os.path.join(stage, n)], check=True, capture_output=True); os.rmdir(stage)
    tmp = os.path.join(root, f, '.latest.tmp'); os.symlink(n, tmp); os.rename(tmp, os.path.join(root, f, 'latest'))
    print(json.dumps({'received': {'name': n, **show(os.path.join(root, f, n))}}))
elif w[0] == 'send' and len(w) == 4:
    f, n, par = w[1:]
    args = ['btrfs', 'send', '-q'] + (['-p', os.path.join(root, f, par)] if par != '-' else []) + ['--', os.path.join(root, f, n)]
    sys.exit(subprocess.run(args).returncode)
else:
    refuse(f'unknown verb line {json.dumps(line)}')
