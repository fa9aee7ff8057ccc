#!/usr/bin/env python3
"""Where a stripped Go binary's perf samples went, by function, named from its .gopclntab
(Go 1.18+; Debian's nats-server is stripped, so perf shows bare addresses).

    perf script -i F.perf -F ip | python3 bench/gosym.py BINARY [--top N] [--inclusive]

Reads perf script's addresses: one sample per line, or, for a record with -g, one address a
line and a blank line between samples (the first address is the sample's own). Prints the
share of samples by function: the sample's own function (self), or with --inclusive each
function anywhere on the sample's stack (counted once a sample: time spent in it and below).
A sample in the kernel counts for the binary's function that called it (self), and once
more as '[kernel]'; addresses outside the binary and the kernel (vdso) as '[outside]'.
"""
import bisect
import collections
import struct
import sys


def functions(path):
    data = open(path, 'rb').read()
    shoff = struct.unpack_from('<Q', data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from('<HHH', data, 0x3a)
    sections = [struct.unpack_from('<IIQQQQ', data, shoff + i * shentsize) for i in range(shnum)]
    strtab = sections[shstrndx][4]
    pcln = None
    for name, _, _, _, off, size in sections:
        end = data.index(b'\0', strtab + name)
        if data[strtab + name:end] == b'.gopclntab':
            pcln = data[off:off + size]
    if pcln is None or struct.unpack_from('<I', pcln, 0)[0] not in (0xfffffff0, 0xfffffff1):
        sys.exit(f'{path}: no Go 1.18+ .gopclntab')
    nfunc = struct.unpack_from('<Q', pcln, 8)[0]
    text_start, names_at = struct.unpack_from('<QQ', pcln, 8 + 2 * 8)
    functab = struct.unpack_from('<Q', pcln, 8 + 7 * 8)[0]
    entries, names = [], []
    for i in range(nfunc):
        entry, funcoff = struct.unpack_from('<II', pcln, functab + i * 8)
        at = names_at + struct.unpack_from('<i', pcln, functab + funcoff + 4)[0]
        entries.append(text_start + entry)
        names.append(pcln[at:pcln.index(b'\0', at)].decode(errors='replace'))
    end = text_start + struct.unpack_from('<I', pcln, functab + nfunc * 8)[0]
    # perf script prints a user address as its offset in the file (nats-server, not PIE, is
    # mapped at 0x400000): the first PT_LOAD segment's address less its offset is added back.
    phoff = struct.unpack_from('<Q', data, 0x20)[0]
    phentsize, phnum = struct.unpack_from('<HH', data, 0x36)
    base = 0
    for i in range(phnum):
        ptype, _, offset, vaddr = struct.unpack_from('<IIQQ', data, phoff + i * phentsize)
        if ptype == 1:  # PT_LOAD
            base = vaddr - offset
            break
    return entries, names, end, base


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    top = int(args[args.index('--top') + 1]) if '--top' in args else 40
    inclusive = '--inclusive' in args
    entries, names, end, base = functions(args[0])

    def name(address):
        if address >= 1 << 63:
            return '[kernel]'
        address += base
        i = bisect.bisect_right(entries, address) - 1
        return names[i] if 0 <= i and address < end else '[outside]'

    text = sys.stdin.read()
    blocks = text.split('\n\n') if '\n\n' in text else text.splitlines()
    counts, samples = collections.Counter(), 0
    for block in blocks:
        frames = [int(w.split()[0], 16) for w in block.splitlines() if w.strip()]
        if not frames:
            continue
        samples += 1
        named = [name(a) for a in frames]
        if inclusive:
            counts.update(set(named))
        else:  # the kernel's share apart, and the kernel's time also under the function calling it
            own = next((n for n in named if n not in ('[kernel]', '[outside]')), named[0])
            counts[own] += 1
            if named[0] == '[kernel]':
                counts['[kernel] (in total, also counted under its caller)'] += 1
    print(f'{samples} samples')
    for function, n in counts.most_common(top):
        print(f'{100.0 * n / samples:6.2f}% {function}')


main()
