import path from 'node:path';
import type { Logger } from '../lib/log.ts';
import { enumerateObjects, EnumerateError, planShallow, type Deepen } from './enumerate.ts';
import type { ChannelWriter, StreamReader } from './io.ts';
import { ObjectStore } from './object-store.ts';
import { parseTag } from './objects.ts';
import { writePack } from './pack-writer.ts';
import { pinObjects } from './pins.ts';
import { PktLineError, pktText } from './pktline.ts';
import { listRefs, readHeadTarget } from './refs.ts';
import { printable } from '../lib/text.ts';

const BASE_CAPS = 'multi_ack multi_ack_detailed side-band-64k side-band ofs-delta shallow deepen-relative no-progress include-tag agent=slipway/0.1 object-format=sha1';
const OID = /^[0-9a-f]{40}$/;

export interface UploadPackOptions {
  gitDir: string;
  log: Logger;
}

interface Request {
  wants: string[];
  caps: Set<string>;
  clientShallows: Set<string>;
  deepen?: Deepen;
}

export async function serveUploadPack(reader: StreamReader, w: ChannelWriter, opts: UploadPackOptions): Promise<void> {
  const store = new ObjectStore([path.join(opts.gitDir, 'objects')]);
  const refs = listRefs(opts.gitDir);
  // What the client is shown must stay readable until it is sent, even if a ref moves and a gc runs.
  const unpin = pinObjects(opts.gitDir, refs.values());
  try {
    const advertised = await advertise(w, opts.gitDir, refs, store);
    const req = await readWants(reader, advertised);
    if (!req) return; // ls-remote, or a clone of an empty repo
    w.sideband = req.caps.has('side-band-64k') || req.caps.has('side-band');
    const progress = req.caps.has('no-progress') ? () => {} : (s: string) => w.progress(s);

    let objects: string[] | null;
    try {
      objects = await shallowAndNegotiate(reader, w, store, req);
    } catch (err) {
      if (!(err instanceof EnumerateError)) throw err;
      w.error(`error: ${err.message}`);
      opts.log.error('upload-pack enumeration failed', { error: err.message });
      return;
    }
    if (!objects) return; // the client hung up during negotiation (it had everything)
    const oids = req.caps.has('include-tag') ? addTags(objects, refs, store) : objects;
    progress(`Enumerating objects: ${oids.length}, done.\n`);
    let last = 0;
    await writePack(oids, store, (chunk) => w.data(chunk), {
      ofsDelta: req.caps.has('ofs-delta'),
      onProgress: (done, total) => {
        const now = Date.now();
        if (done !== total && now - last < 250) return;
        last = now;
        progress(`Counting objects: ${Math.floor((done * 100) / Math.max(total, 1))}% (${done}/${total})${done === total ? ', done.\n' : '\r'}`);
      },
    });
    if (w.sideband) await w.flush();
    opts.log.info('pack sent', { objects: oids.length, depth: req.deepen?.depth });
  } finally {
    unpin();
    store.close();
  }
}

/** Announces the shallow boundary (before negotiation, as the protocol requires), negotiates, and lists the objects to send. */
async function shallowAndNegotiate(reader: StreamReader, w: ChannelWriter, store: ObjectStore, req: Request): Promise<string[] | null> {
  const plan = await planShallow(store, req.wants, req.clientShallows, req.deepen);
  if (req.deepen) {
    for (const s of plan.shallow) await w.pkt(`shallow ${s}\n`);
    for (const u of plan.unshallow) await w.pkt(`unshallow ${u}\n`);
    await w.flush();
  }
  const haves = await negotiate(reader, w, store, req.caps);
  if (haves === null) return null;
  return enumerateObjects(store, { wants: req.wants, haves, clientShallows: req.clientShallows, plan });
}

/** Sends HEAD and every ref (with peeled tags); returns the oids a client may want. */
async function advertise(w: ChannelWriter, gitDir: string, refs: Map<string, string>, store: ObjectStore): Promise<Set<string>> {
  const lines: [string, string][] = [];
  const head = readHeadTarget(gitDir);
  const headOid = head ? refs.get(head) : undefined;
  if (headOid) lines.push([headOid, 'HEAD']);
  for (const [name, oid] of refs) {
    lines.push([oid, name]);
    if (name.startsWith('refs/tags/')) {
      const peeled = peel(store, oid);
      if (peeled !== oid) lines.push([peeled, `${name}^{}`]);
    }
  }
  const caps = headOid ? `${BASE_CAPS} symref=HEAD:${head}` : BASE_CAPS;
  if (lines.length === 0) await w.pkt(`${'0'.repeat(40)} capabilities^{}\0${caps}\n`);
  let first = true;
  for (const [oid, name] of lines) {
    await w.pkt(first ? `${oid} ${name}\0${caps}\n` : `${oid} ${name}\n`);
    first = false;
  }
  await w.flush();
  return new Set(lines.map(([oid]) => oid));
}

function peel(store: ObjectStore, oid: string): string {
  let cur = oid;
  for (let i = 0; i < 10; i++) {
    const o = store.read(cur);
    if (!o || o.type !== 'tag') return cur;
    cur = parseTag(o.data).object;
  }
  return cur;
}

async function readWants(reader: StreamReader, advertised: Set<string>): Promise<Request | null> {
  const req: Request = { wants: [], caps: new Set(), clientShallows: new Set() };
  for (;;) {
    let p;
    try {
      p = await reader.readPkt();
    } catch (err) {
      // `git ls-remote` hangs up right after the advertisement.
      if (err instanceof PktLineError && req.wants.length === 0 && reader.pkts.buffered === 0) return null;
      throw err;
    }
    if (p.kind === 'flush') break;
    if (p.kind !== 'data') throw new PktLineError('unexpected special packet in fetch request');
    const line = pktText(p);
    const [cmd, arg, ...rest] = line.split(' ');
    if (cmd === 'want' && arg && OID.test(arg)) {
      if (req.wants.length === 0) for (const c of rest) req.caps.add(c);
      if (!advertised.has(arg)) throw new PktLineError(`not our ref ${arg}`);
      if (!req.wants.includes(arg)) req.wants.push(arg);
    } else if (cmd === 'shallow' && arg && OID.test(arg)) {
      req.clientShallows.add(arg);
    } else if (cmd === 'deepen' && arg && /^[1-9][0-9]{0,9}$/.test(arg) && Number(arg) <= 0x7fffffff) {
      // --unshallow asks for 2147483647 (git's "infinite" depth)
      req.deepen = { depth: Number(arg), relative: false };
    } else if (cmd === 'deepen-since' || cmd === 'deepen-not' || cmd === 'filter') {
      throw new PktLineError(`'${cmd}' is not supported by this server; use --depth`);
    } else {
      throw new PktLineError(`unexpected line in fetch request '${printable(line, 80)}'`);
    }
  }
  if (req.deepen && req.caps.has('deepen-relative')) req.deepen.relative = true;
  return req.wants.length ? req : null;
}

/**
 * The have/ACK exchange (gitprotocol-pack "Packfile Negotiation"): the client sends haves in
 * batches ended by flush, then `done`. Returns the common commits, or null on hang-up.
 */
async function negotiate(reader: StreamReader, w: ChannelWriter, store: ObjectStore, caps: Set<string>): Promise<string[] | null> {
  const detailed = caps.has('multi_ack_detailed');
  const multi = detailed || caps.has('multi_ack');
  const common: string[] = [];
  for (;;) {
    let p;
    try {
      p = await reader.readPkt();
    } catch (err) {
      if (err instanceof PktLineError && reader.pkts.buffered === 0) return null;
      throw err;
    }
    if (p.kind === 'flush') {
      if (common.length === 0 || multi) await w.pkt('NAK\n');
      continue;
    }
    const line = pktText(p);
    if (line === 'done') {
      if (common.length > 0) {
        if (multi) await w.pkt(`ACK ${common[common.length - 1]}\n`);
      } else {
        await w.pkt('NAK\n');
      }
      return common;
    }
    const m = /^have ([0-9a-f]{40})$/.exec(line);
    if (!m) throw new PktLineError(`unexpected line in negotiation '${printable(line, 80)}'`);
    const oid = m[1]!;
    if (!store.has(oid) || common.includes(oid)) continue;
    common.push(oid);
    if (detailed) await w.pkt(`ACK ${oid} common\n`);
    else if (multi) await w.pkt(`ACK ${oid} continue\n`);
    else if (common.length === 1) await w.pkt(`ACK ${oid}\n`);
  }
}

/** include-tag: annotated tags whose target is being sent travel along. */
function addTags(oids: string[], refs: Map<string, string>, store: ObjectStore): string[] {
  const set = new Set(oids);
  const extra: string[] = [];
  for (const [name, oid] of refs) {
    if (!name.startsWith('refs/tags/') || set.has(oid)) continue;
    const o = store.read(oid);
    if (o?.type === 'tag' && set.has(parseTag(o.data).object)) {
      set.add(oid);
      extra.push(oid);
    }
  }
  return extra.length ? [...extra, ...oids] : oids;
}
