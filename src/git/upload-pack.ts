import path from 'node:path';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Logger } from '../lib/log.ts';
import { enumerateObjects, EnumerateError, planShallow, planShallowByRevList, type ShallowPlan, type TreeWalker } from './enumerate.ts';
import { walkTreesOffThread } from './index-off-thread.ts';
import type { ChannelWriter, StreamReader } from './io.ts';
import { ObjectStore } from './object-store.ts';
import { parseTag } from './objects.ts';
import { writePack } from './pack-writer.ts';
import { pinObjects } from './pins.ts';
import { PktLineError, pktText, type Pkt } from './pktline.ts';
import { requestedVersion } from './protocol-version.ts';
import { listRefs, readHeadTarget } from './refs.ts';
import { printable } from '../lib/text.ts';

const AGENT = 'agent=slipway/0.1';
const BASE_CAPS = `multi_ack multi_ack_detailed side-band-64k side-band ofs-delta shallow deepen-since deepen-not deepen-relative no-progress include-tag ${AGENT} object-format=sha1`;
const OID = /^[0-9a-f]{40}$/;
/** git's "infinite" depth, which --unshallow asks for */
const MAX_DEPTH = 0x7fffffff;

export interface UploadPackOptions {
  gitDir: string;
  log: Logger;
  /** the client's GIT_PROTOCOL (an ssh env request): `version=2` selects protocol v2 */
  protocol?: string;
}

/** What the client asks for (v0 want lines or v2 fetch arguments). */
interface Request {
  wants: string[];
  caps: Set<string>;
  clientShallows: Set<string>;
  depth?: { depth: number; relative: boolean };
  since?: number;
  /** deepen-not refs, resolved */
  notTips: string[];
}

/** The repo's refs as one request sees them. */
interface RefView {
  refs: Map<string, string>;
  head: string | null;
  headOid: string | undefined;
  /** oids a client may want: the tips, HEAD, and what tags peel to */
  wantable: Set<string>;
  peeled: Map<string, string>;
}

export async function serveUploadPack(reader: StreamReader, w: ChannelWriter, opts: UploadPackOptions): Promise<void> {
  // Scanned by refView, after the refs are read.
  const store = new ObjectStore([path.join(opts.gitDir, 'objects')], { deferScan: true });
  try {
    const version = requestedVersion(opts.protocol);
    if (version === 2) await serveV2(reader, w, store, opts);
    else await serveV0(reader, w, store, opts, version);
  } finally {
    store.close();
  }
}

/**
 * The refs now, pinned until `unpin` (what the client is shown must stay readable until it is
 * sent, even if a ref moves and a gc runs).
 */
function refView(gitDir: string, store: ObjectStore): RefView & { unpin: () => void } {
  const refs = listRefs(gitDir);
  const unpin = pinObjects(gitDir, refs.values());
  // After the refs: a push writes its pack before it moves a ref, so every tip read is in a pack seen now.
  store.refresh();
  const head = readHeadTarget(gitDir);
  const headOid = head ? refs.get(head) : undefined;
  const wantable = new Set(refs.values());
  const peeled = new Map<string, string>();
  for (const [name, oid] of refs) {
    if (!name.startsWith('refs/tags/')) continue;
    const p = peel(store, oid);
    if (p !== oid) {
      peeled.set(name, p);
      wantable.add(p);
    }
  }
  return { refs, head, headOid, wantable, peeled, unpin };
}

// ---------------------------------------------------------------- protocol v0 / v1

async function serveV0(reader: StreamReader, w: ChannelWriter, store: ObjectStore, opts: UploadPackOptions, version: 0 | 1): Promise<void> {
  const view = refView(opts.gitDir, store);
  try {
    await serveV0Refs(reader, w, store, opts, version, view);
  } finally {
    view.unpin();
  }
}

async function serveV0Refs(reader: StreamReader, w: ChannelWriter, store: ObjectStore, opts: UploadPackOptions, version: 0 | 1, view: RefView): Promise<void> {
  if (version === 1) await w.pkt('version 1\n');
  await advertise(w, view);
  const req = await readWants(reader, view);
  if (!req) return; // ls-remote, or a clone of an empty repo
  w.sideband = req.caps.has('side-band-64k') || req.caps.has('side-band');
  const loopDelay = loopDelayMonitor();
  try {
    const plan = await shallowPlan(store, req);
    if (req.depth || req.since !== undefined || req.notTips.length) {
      for (const s of plan.shallow) await w.pkt(`shallow ${s}\n`);
      for (const u of plan.unshallow) await w.pkt(`unshallow ${u}\n`);
      await w.flush();
    }
    const haves = await negotiate(reader, w, store, req.caps);
    if (haves === null) return; // the client hung up during negotiation (it had everything)
    const objects = await enumerateObjects(store, { wants: req.wants, haves, clientShallows: req.clientShallows, plan }, { walker: walkerFor(opts.gitDir, opts.log) });
    await sendPack(w, store, view, req, objects, opts, loopDelay);
  } catch (err) {
    if (!(err instanceof EnumerateError)) throw err;
    return refuseFetch(w, opts, err);
  } finally {
    loopDelay.disable();
  }
}

/** The event loop's delays while a pack is made and sent (logged with it: other sessions wait that long). */
function loopDelayMonitor(): IntervalHistogram {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  return h;
}

function refuseFetch(w: ChannelWriter, opts: UploadPackOptions, err: EnumerateError): void {
  w.error(`error: ${err.message}`);
  opts.log.error('upload-pack enumeration failed', { error: err.message });
}

/** Sends HEAD and every ref (with peeled tags). */
async function advertise(w: ChannelWriter, view: RefView): Promise<void> {
  const lines: [string, string][] = [];
  if (view.headOid) lines.push([view.headOid, 'HEAD']);
  for (const [name, oid] of view.refs) {
    lines.push([oid, name]);
    const p = view.peeled.get(name);
    if (p) lines.push([p, `${name}^{}`]);
  }
  const caps = view.headOid ? `${BASE_CAPS} symref=HEAD:${view.head}` : BASE_CAPS;
  if (lines.length === 0) await w.pkt(`${'0'.repeat(40)} capabilities^{}\0${caps}\n`);
  let first = true;
  for (const [oid, name] of lines) {
    await w.pkt(first ? `${oid} ${name}\0${caps}\n` : `${oid} ${name}\n`);
    first = false;
  }
  await w.flush();
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

async function readWants(reader: StreamReader, view: RefView): Promise<Request | null> {
  const req: Request = { wants: [], caps: new Set(), clientShallows: new Set(), notTips: [] };
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
      addWant(req, arg, view);
    } else if (!deepenArg(req, line, view)) {
      throw new PktLineError(`unexpected line in fetch request '${printable(line, 80)}'`);
    }
  }
  if (req.depth && req.caps.has('deepen-relative')) req.depth.relative = true;
  checkDeepen(req);
  return req.wants.length ? req : null;
}

/**
 * v0/v1 take only what was advertised. v2 is stateless: a ref may move between `ls-refs` and
 * `fetch`, so, as git's v2 does, any object the repo has may be wanted (`store`).
 */
function addWant(req: Request, oid: string, view: RefView, store?: ObjectStore): void {
  if (!view.wantable.has(oid) && !store?.has(oid)) throw new PktLineError(`upload-pack: not our ref ${oid}`);
  if (!req.wants.includes(oid)) req.wants.push(oid);
}

/** `shallow`, `deepen`, `deepen-since`, `deepen-not` (the same in v0 and v2); false when `line` is none of them. */
function deepenArg(req: Request, line: string, view: RefView): boolean {
  const [cmd, arg] = line.split(' ', 2);
  if (cmd === 'shallow' && arg && OID.test(arg)) req.clientShallows.add(arg);
  else if (cmd === 'deepen' && arg && /^[1-9][0-9]{0,9}$/.test(arg) && Number(arg) <= MAX_DEPTH) req.depth = { depth: Number(arg), relative: false };
  else if (cmd === 'deepen-since' && arg && /^[0-9]{1,12}$/.test(arg)) req.since = Number(arg);
  else if (cmd === 'deepen-not' && arg) req.notTips.push(expandRef(arg, view));
  else return false;
  return true;
}

function checkDeepen(req: Request): void {
  if (req.depth && (req.since !== undefined || req.notTips.length)) throw new PktLineError('deepen and deepen-since (or deepen-not) cannot be used together');
}

/** git's expand_ref for deepen-not: the name as given, then under refs/, refs/tags/, refs/heads/, refs/remotes/. */
function expandRef(name: string, view: RefView): string {
  const found = [name, `refs/${name}`, `refs/tags/${name}`, `refs/heads/${name}`, `refs/remotes/${name}`, `refs/remotes/${name}/HEAD`]
    .map((r) => (r === 'HEAD' ? view.headOid : view.refs.get(r)))
    .filter((oid): oid is string => oid !== undefined);
  if (found.length > 1) throw new PktLineError(`upload-pack: ambiguous deepen-not: ${printable(name, 100)}`);
  if (found.length < 1) throw new PktLineError(`upload-pack: deepen-not is not a ref: ${printable(name, 100)}`);
  return found[0]!;
}

async function shallowPlan(store: ObjectStore, req: Request): Promise<ShallowPlan> {
  if (req.since !== undefined || req.notTips.length) return planShallowByRevList(store, req.wants, req.clientShallows, req.since ?? null, req.notTips);
  return planShallow(store, req.wants, req.clientShallows, req.depth);
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

/** A big fetch's tree walk is shared with the indexing thread, reading the same repo. */
function walkerFor(gitDir: string, log: Logger): TreeWalker {
  return (chunks, bounds) =>
    walkTreesOffThread({ storeDirs: [path.join(gitDir, 'objects')], trees: chunks.trees, chunkSize: chunks.chunkSize, word: chunks.word, bounds }).catch((err: unknown) => {
      log.warn('tree walk on the indexing thread failed; this thread walks its share', { error: err instanceof Error ? err.message : String(err) });
      throw err;
    });
}

/** The pack of `objects` (plus tags that include-tag brings), with progress unless asked not to. */
async function sendPack(w: ChannelWriter, store: ObjectStore, view: RefView, req: Request, objects: string[], opts: UploadPackOptions, loopDelay: IntervalHistogram): Promise<void> {
  const progress = req.caps.has('no-progress') ? () => {} : (s: string) => w.progress(s);
  const oids = req.caps.has('include-tag') ? addTags(objects, view.refs, store) : objects;
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
  opts.log.info('pack sent', {
    objects: oids.length,
    depth: req.depth?.depth,
    since: req.since,
    deepen_not: req.notTips.length || undefined,
    loop_delay_max_ms: Math.round(loopDelay.max / 1e6),
  });
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

// ---------------------------------------------------------------- protocol v2 (gitprotocol-v2)

const V2_ADVERTISEMENT = ['version 2', AGENT, 'ls-refs=unborn', 'fetch=shallow', 'server-option', 'object-format=sha1'];
/** more ref-prefix arguments than this are ignored, as git does (all refs are sent) */
const MAX_PREFIXES = 65536;

interface V2Command {
  command: string;
  /** capability lines (agent=, object-format=, server-option=) */
  caps: string[];
  args: string[];
}

async function serveV2(reader: StreamReader, w: ChannelWriter, store: ObjectStore, opts: UploadPackOptions): Promise<void> {
  for (const line of V2_ADVERTISEMENT) await w.pkt(`${line}\n`);
  await w.flush();
  for (;;) {
    const cmd = await readV2Command(reader);
    if (!cmd) return;
    const format = cmd.caps.find((c) => c.startsWith('object-format='));
    if (format && format !== 'object-format=sha1') throw new PktLineError(`mismatched object format: this repository uses sha1, not ${printable(format.slice('object-format='.length), 40)}`);
    if (cmd.command !== 'ls-refs' && cmd.command !== 'fetch') throw new PktLineError(`invalid command '${printable(cmd.command, 40)}'`);
    // Each command sees the refs as they are now (v2 is stateless between commands).
    const view = refView(opts.gitDir, store);
    try {
      if (cmd.command === 'ls-refs') await lsRefs(w, view, cmd.args);
      else await fetchV2(w, store, view, cmd.args, opts);
    } finally {
      view.unpin();
    }
  }
}

/** One command request: capability lines, a delimiter, arguments, a flush. Null when the client is done (a lone flush, or the end of input). */
async function readV2Command(reader: StreamReader): Promise<V2Command | null> {
  const caps: string[] = [];
  const args: string[] = [];
  let command: string | null = null;
  let inArgs = false;
  for (;;) {
    let p: Pkt;
    try {
      p = await reader.readPkt();
    } catch (err) {
      if (err instanceof PktLineError && command === null && caps.length === 0 && reader.pkts.buffered === 0) return null;
      throw err;
    }
    if (p.kind === 'flush') {
      if (command === null && caps.length === 0) return null;
      break;
    }
    if (p.kind === 'delim' && !inArgs) {
      inArgs = true;
      continue;
    }
    if (p.kind !== 'data') throw new PktLineError('unexpected special packet in a protocol v2 request');
    const line = pktText(p);
    if (inArgs) args.push(line);
    else if (line.startsWith('command=')) {
      if (command !== null) throw new PktLineError('command= given twice');
      command = line.slice('command='.length);
    } else caps.push(line);
  }
  if (command === null) throw new PktLineError('no command requested');
  return { command, caps, args };
}

async function lsRefs(w: ChannelWriter, view: RefView, args: string[]): Promise<void> {
  let symrefs = false;
  let peelTags = false;
  let unborn = false;
  const prefixes: string[] = [];
  for (const a of args) {
    if (a === 'symrefs') symrefs = true;
    else if (a === 'peel') peelTags = true;
    else if (a === 'unborn') unborn = true;
    else if (a.startsWith('ref-prefix ')) prefixes.push(a.slice('ref-prefix '.length));
    else throw new PktLineError(`unexpected line: '${printable(a, 80)}'`);
  }
  const matches = (name: string) => prefixes.length === 0 || prefixes.length > MAX_PREFIXES || prefixes.some((p) => name.startsWith(p));
  if (matches('HEAD') && view.head) {
    const target = symrefs ? ` symref-target:${view.head}` : '';
    if (view.headOid) await w.pkt(`${view.headOid} HEAD${target}\n`);
    else if (unborn) await w.pkt(`unborn HEAD${target}\n`);
  }
  for (const [name, oid] of view.refs) {
    if (!matches(name)) continue;
    const p = peelTags ? view.peeled.get(name) : undefined;
    await w.pkt(`${oid} ${name}${p ? ` peeled:${p}` : ''}\n`);
  }
  await w.flush();
}

/** A v2 `fetch`: acknowledgments while the client negotiates; once done (or ready), shallow-info and the pack. */
async function fetchV2(w: ChannelWriter, store: ObjectStore, view: RefView, args: string[], opts: UploadPackOptions): Promise<void> {
  const req: Request = { wants: [], caps: new Set(), clientShallows: new Set(), notTips: [] };
  const haves: string[] = [];
  let done = false;
  for (const a of args) {
    const [cmd, arg] = a.split(' ', 2);
    if (cmd === 'want' && arg && OID.test(arg)) addWant(req, arg, view, store);
    else if (cmd === 'have' && arg && OID.test(arg)) haves.push(arg);
    else if (a === 'done') done = true;
    else if (a === 'deepen-relative' || a === 'thin-pack' || a === 'no-progress' || a === 'include-tag' || a === 'ofs-delta') req.caps.add(a);
    else if (!deepenArg(req, a, view)) throw new PktLineError(`unexpected line: '${printable(a, 80)}'`);
  }
  if (req.depth && req.caps.has('deepen-relative')) req.depth.relative = true;
  checkDeepen(req);
  const common = [...new Set(haves)].filter((h) => store.has(h));

  w.sideband = false;
  if (!done) {
    await w.pkt('acknowledgments\n');
    if (common.length === 0) await w.pkt('NAK\n');
    for (const c of common) await w.pkt(`ACK ${c}\n`);
    // A common commit found: what the client has is known well enough to cut the pack.
    const ready = common.length > 0 && req.wants.length > 0;
    if (!ready) return void (await w.flush());
    await w.pkt('ready\n');
    await w.delim();
  }
  if (req.wants.length === 0) return void (await w.flush());
  const loopDelay = loopDelayMonitor();
  try {
    let objects: string[];
    try {
      const plan = await shallowPlan(store, req);
      if (req.depth || req.since !== undefined || req.notTips.length || req.clientShallows.size) {
        await w.pkt('shallow-info\n');
        for (const s of plan.shallow) await w.pkt(`shallow ${s}\n`);
        for (const u of plan.unshallow) await w.pkt(`unshallow ${u}\n`);
        await w.delim();
      }
      objects = await enumerateObjects(store, { wants: req.wants, haves: common, clientShallows: req.clientShallows, plan }, { walker: walkerFor(opts.gitDir, opts.log) });
    } catch (err) {
      if (!(err instanceof EnumerateError)) throw err;
      // Nothing of the packfile section was sent yet: a plain error line ends the response.
      await w.pkt(`ERR upload-pack: ${err.message}\n`);
      return refuseFetch(w, opts, err);
    }
    await w.pkt('packfile\n');
    w.sideband = true;
    await sendPack(w, store, view, req, objects, opts, loopDelay);
    w.sideband = false;
  } finally {
    loopDelay.disable();
  }
}
