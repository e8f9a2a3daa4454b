/**
 * `git archive --remote` (git-upload-archive): the client sends `argument <arg>` lines and a
 * flush; the server answers `ACK` (or `NACK <why>`) and a flush, then the archive on side-band 1,
 * errors on band 3, and a flush. Only what git allows remotely by default: a tree-ish that starts
 * with a ref name (`main`, `v1:docs`; no bare object ids, as `uploadArchive.allowUnreachable` is
 * off), `--format` (tar, tgz, tar.gz, zip), `--prefix`, a compression level `-0`..`-9`, and paths.
 */
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Logger } from '../lib/log.ts';
import { printable } from '../lib/text.ts';
import { ZipWriter } from '../lib/zip-writer.ts';
import type { ChannelWriter, StreamReader } from './io.ts';
import { ObjectStore } from './object-store.ts';
import { parseCommit, parseTag } from './objects.ts';
import { pinObjects } from './pins.ts';
import { PktLineError, pktText } from './pktline.ts';
import { listRefs, readHeadTarget } from './refs.ts';

export interface UploadArchiveOptions {
  gitDir: string;
  log: Logger;
}

/** git's upload-archive takes at most this many arguments */
const MAX_ARGS = 64;
const FORMATS = ['tar', 'tgz', 'tar.gz', 'zip'];
const GZIP_MEMBER = 1 << 20;

export interface ArchiveRequest {
  format: 'tar' | 'tgz' | 'tar.gz' | 'zip';
  prefix: string;
  level: number;
  treeish: string;
  paths: string[];
}

/** A refusal git-archive shows the user (`remote: fatal: …` / `fatal: …`). */
export class ArchiveError extends Error {}

/** The arguments as `git archive` parses the remote ones; throws ArchiveError for anything else. */
export function parseArchiveArgs(args: string[]): ArchiveRequest {
  const req: ArchiveRequest = { format: 'tar', prefix: '', level: 6, treeish: '', paths: [] };
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-')) break;
    if (a.startsWith('--format=')) {
      const f = a.slice('--format='.length);
      if (!FORMATS.includes(f)) throw new ArchiveError(`Unknown archive format '${printable(f, 40)}' (this server makes ${FORMATS.join(', ')})`);
      req.format = f as ArchiveRequest['format'];
    } else if (a.startsWith('--prefix=')) req.prefix = a.slice('--prefix='.length);
    else if (/^-[0-9]$/.test(a)) req.level = Number(a.slice(1));
    else if (a === '--worktree-attributes' || a === '-v' || a === '--verbose') continue;
    else throw new ArchiveError(`unknown option '${printable(a, 60)}' (allowed remotely: --format, --prefix, -0..-9)`);
  }
  const rest = args.slice(i);
  if (rest.length === 0) throw new ArchiveError('must specify a tree-ish (a branch, a tag, or ref:path)');
  req.treeish = rest[0]!;
  req.paths = rest.slice(1);
  if (req.prefix.split('/').some((c) => c === '..')) throw new ArchiveError(`prefix '${printable(req.prefix, 60)}' may not hold '..'`);
  return req;
}

export async function serveUploadArchive(reader: StreamReader, w: ChannelWriter, opts: UploadArchiveOptions): Promise<void> {
  const args: string[] = [];
  for (;;) {
    const p = await reader.readPkt();
    if (p.kind === 'flush') break;
    if (p.kind !== 'data') throw new PktLineError('unexpected special packet in archive arguments');
    const line = pktText(p);
    if (!line.startsWith('argument ')) throw new PktLineError(`'argument' token or flush expected, got '${printable(line, 60)}'`);
    if (args.length >= MAX_ARGS) throw new PktLineError('Too many options (>64)');
    args.push(line.slice('argument '.length));
  }
  const store = new ObjectStore([path.join(opts.gitDir, 'objects')]);
  const refs = listRefs(opts.gitDir);
  const unpin = pinObjects(opts.gitDir, refs.values());
  try {
    let req: ArchiveRequest;
    let root: { tree: string; commit: string | null; time: number };
    try {
      req = parseArchiveArgs(args);
      root = resolveTreeish(req.treeish, refs, readHeadTarget(opts.gitDir), store);
    } catch (err) {
      if (!(err instanceof ArchiveError)) throw err;
      opts.log.info('archive refused', { reason: err.message });
      await w.pkt(`NACK ${err.message}\n`);
      await w.flush();
      return;
    }
    await w.pkt('ACK\n');
    await w.flush();
    w.sideband = true;
    const entries = collectEntries(store, root.tree, req.paths);
    if (typeof entries === 'string') {
      w.error(`fatal: ${entries}`);
      await w.flush();
      return;
    }
    const archive: ArchiveWriter = req.format === 'zip' ? zipArchive(root.time, req.level, root.commit) : tarArchive(root.time, root.commit);
    // tar.gz goes out as gzip members of about 1 MiB of tar each (RFC 1952 allows several; gzip
    // and tar read them as one stream), so memory stays bounded whatever the repo's size.
    let chunks: Buffer[] = [];
    let pending = 0;
    const gzip = req.format === 'tgz' || req.format === 'tar.gz';
    const sendGzip = async () => {
      if (pending === 0) return;
      const member = gzipSync(Buffer.concat(chunks), { level: req.level });
      chunks = [];
      pending = 0;
      await w.data(member);
    };
    const emit = async (b: Buffer) => {
      if (b.length === 0) return;
      if (!gzip) return w.data(b);
      chunks.push(b);
      pending += b.length;
      if (pending >= GZIP_MEMBER) await sendGzip();
    };
    await emit(archive.begin());
    if (req.prefix.endsWith('/')) await emit(archive.entry(req.prefix, 0o040000, Buffer.alloc(0))); // as git: the prefix is a directory of its own
    let n = 0;
    for (const e of entries) {
      const name = req.prefix + e.path;
      if (e.kind === 'dir') await emit(archive.entry(name + '/', 0o040000, Buffer.alloc(0)));
      else {
        const blob = store.read(e.oid);
        if (!blob) throw new Error(`archive: blob ${e.oid} is missing`);
        await emit(archive.entry(name, e.mode, blob.data));
      }
      if (++n % 200 === 0) await new Promise((r) => setImmediate(r));
    }
    await emit(archive.end());
    await sendGzip();
    await w.flush();
    opts.log.info('archive sent', { treeish: printable(req.treeish, 100), entries: entries.length, format: req.format });
  } finally {
    unpin();
    store.close();
  }
}

/** An archive format, entry by entry: what comes before the first entry, each entry's bytes, the end. */
interface ArchiveWriter {
  begin(): Buffer;
  entry(name: string, mode: number, data: Buffer): Buffer;
  end(): Buffer;
}

function tarArchive(mtime: number, commit: string | null): ArchiveWriter {
  const tar = new TarWriter(mtime);
  return { begin: () => (commit ? tar.globalComment(commit) : Buffer.alloc(0)), entry: (n, m, d) => tar.entry(n, m, d), end: () => tar.end() };
}

function zipArchive(mtime: number, level: number, commit: string | null): ArchiveWriter {
  const zip = new ZipWriter(mtime, level);
  return { begin: () => Buffer.alloc(0), entry: (n, m, d) => zip.entry(n, m, d), end: () => zip.end(commit) };
}

/** `<ref>[:<path>]` to a tree, its commit (if any) and the time the archive's entries get. */
function resolveTreeish(treeish: string, refs: Map<string, string>, head: string | null, store: ObjectStore): { tree: string; commit: string | null; time: number } {
  const colon = treeish.indexOf(':');
  const name = colon < 0 ? treeish : treeish.slice(0, colon);
  const sub = colon < 0 ? '' : treeish.slice(colon + 1);
  const candidates = name === 'HEAD' ? [head ?? ''] : [name, `refs/${name}`, `refs/tags/${name}`, `refs/heads/${name}`, `refs/remotes/${name}`];
  let oid = candidates.map((r) => refs.get(r)).find((o) => o !== undefined);
  if (!oid) throw new ArchiveError(`no such ref: ${printable(name, 100)}`);
  let commit: string | null = null;
  let time = Math.floor(Date.now() / 1000);
  for (let i = 0; i < 10; i++) {
    const o = store.read(oid);
    if (!o) throw new ArchiveError(`not a valid object name: ${printable(name, 100)}`);
    if (o.type === 'tag') {
      oid = parseTag(o.data).object;
      continue;
    }
    if (o.type === 'commit') {
      const c = parseCommit(o.data);
      commit = oid;
      time = c.committerTime;
      oid = c.tree;
      continue;
    }
    if (o.type !== 'tree') throw new ArchiveError(`not a tree object: ${printable(treeish, 100)}`);
    break;
  }
  let tree = oid;
  for (const part of sub.split('/').filter(Boolean)) {
    const o = store.read(tree);
    const e = o && o.type === 'tree' ? treeEntries(o.data).find((x) => x.name === part) : undefined;
    if (!e || (e.mode & 0o170000) !== 0o040000) throw new ArchiveError(`not a tree object: ${printable(treeish, 100)}`);
    tree = e.oid;
  }
  return { tree, commit, time };
}

interface RawEntry {
  mode: number;
  name: string;
  oid: string;
}

function treeEntries(data: Buffer): RawEntry[] {
  const out: RawEntry[] = [];
  for (let pos = 0; pos < data.length; ) {
    const sp = data.indexOf(0x20, pos);
    const nul = data.indexOf(0, sp + 1);
    if (sp < 0 || nul < 0) break;
    out.push({ mode: parseInt(data.toString('latin1', pos, sp), 8), name: data.toString('utf8', sp + 1, nul), oid: data.toString('hex', nul + 1, nul + 21) });
    pos = nul + 21;
  }
  return out;
}

type Entry = { kind: 'dir'; path: string } | { kind: 'file'; path: string; mode: number; oid: string };

/** Every entry below `root` in git's order (a directory before what it holds), limited to `paths`; a path that matches nothing is an error message. */
function collectEntries(store: ObjectStore, root: string, paths: string[]): Entry[] | string {
  const wanted = paths.map((p) => p.replace(/\/+$/, '')).filter(Boolean);
  const matched = new Set<string>();
  const inside = (p: string) => wanted.length === 0 || wanted.some((w) => (p === w || p.startsWith(w + '/') ? matched.add(w) : false));
  const above = (p: string) => wanted.some((w) => w.startsWith(p + '/'));
  const out: Entry[] = [];
  const walk = (tree: string, dir: string) => {
    const o = store.read(tree);
    if (!o || o.type !== 'tree') throw new Error(`archive: tree ${tree} is missing`);
    for (const e of treeEntries(o.data)) {
      const p = dir + e.name;
      const type = e.mode & 0o170000;
      const isDir = type === 0o040000 || type === 0o160000;
      if (!inside(p)) {
        if (type === 0o040000 && above(p)) {
          out.push({ kind: 'dir', path: p }); // git lists the directories on the way too
          walk(e.oid, p + '/');
        }
        continue;
      }
      if (isDir) {
        out.push({ kind: 'dir', path: p });
        if (type === 0o040000) walk(e.oid, p + '/'); // a submodule is an empty directory, as in git
      } else out.push({ kind: 'file', path: p, mode: e.mode, oid: e.oid });
    }
  };
  walk(root, '');
  const missing = wanted.find((w) => !matched.has(w));
  return missing ? `pathspec '${printable(missing, 100)}' did not match any files` : out;
}

const BLOCK = 512;
/** git pads its tar files to records of 20 blocks */
const RECORD = BLOCK * 20;

/** A ustar stream as `git archive` writes it: root-owned, modes 0775/0664 (tar.umask 002), pax headers for long names. */
class TarWriter {
  private written = 0;
  constructor(private readonly mtime: number) {}

  globalComment(commit: string): Buffer {
    return this.count(Buffer.concat([this.header('pax_global_header', 0o100666, 52, 'g', ''), pad(Buffer.from(`52 comment=${commit}\n`))]));
  }

  entry(name: string, mode: number, data: Buffer): Buffer {
    const type = mode & 0o170000;
    const symlink = type === 0o120000;
    const dir = type === 0o040000;
    const perm = symlink ? 0o777 : dir || mode & 0o111 ? 0o775 : 0o664;
    const link = symlink ? data.toString('utf8') : '';
    const parts: Buffer[] = [];
    const nameBytes = Buffer.byteLength(name);
    if (nameBytes > 100 || Buffer.byteLength(link) > 100) {
      const records = paxRecord('path', name) + (symlink ? paxRecord('linkpath', link) : '');
      const body = Buffer.from(records);
      parts.push(this.header('pax_extended_header', 0o100666, body.length, 'x', ''), pad(body));
    }
    const shortName = nameBytes > 100 ? Buffer.from(name).subarray(0, 100).toString('latin1') : name;
    const typeflag = symlink ? '2' : dir ? '5' : '0';
    const size = symlink || dir ? 0 : data.length;
    parts.push(this.header(shortName, perm, size, typeflag, link.length > 100 ? link.slice(0, 100) : link));
    if (size) parts.push(pad(data));
    return this.count(Buffer.concat(parts));
  }

  end(): Buffer {
    const total = this.written + 2 * BLOCK;
    const padded = Math.ceil(total / RECORD) * RECORD;
    return this.count(Buffer.alloc(padded - this.written));
  }

  private count(b: Buffer): Buffer {
    this.written += b.length;
    return b;
  }

  private header(name: string, mode: number, size: number, typeflag: string, link: string): Buffer {
    const h = Buffer.alloc(BLOCK);
    h.write(name, 0, 100, 'utf8');
    h.write(octal(mode & 0o7777, 7), 100);
    h.write(octal(0, 7), 108);
    h.write(octal(0, 7), 116);
    h.write(octal(size, 11), 124);
    h.write(octal(this.mtime, 11), 136);
    h.write(typeflag, 156);
    h.write(link, 157, 100, 'utf8');
    h.write('ustar\x0000', 257, 'latin1');
    h.write('root', 265);
    h.write('root', 297);
    h.write(octal(0, 7), 329);
    h.write(octal(0, 7), 337);
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(octal(sum, 7), 148);
    return h;
  }
}

const octal = (n: number, width: number) => n.toString(8).padStart(width, '0') + '\0';

function pad(b: Buffer): Buffer {
  const rest = b.length % BLOCK;
  return rest ? Buffer.concat([b, Buffer.alloc(BLOCK - rest)]) : b;
}

/** A pax record `<len> <key>=<value>\n`, whose length counts its own digits. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bytes = Buffer.byteLength(body);
  let len = bytes + String(bytes).length;
  if (String(len).length > String(bytes).length) len++;
  return `${len}${body}`;
}
