#!/usr/bin/env node
// JavaScript reference for `tests/bench/run sync`: replays sequential editing traces
// through a MobWrite-style differential-sync server cycle built on Google's
// diff-match-patch (npm package `diff-match-patch`), and reports server-side edits/s.
//
// The client keeps `text` and `shadow`; after every k edits it sends
// `d:<n>:<diff_toDelta(diff_main(shadow, text))>` as UTF-8 bytes and sets shadow = text
// (untimed). The server part (timed with process.hrtime.bigint, nothing else is):
//   decode the message bytes, diff_fromDelta against the server shadow, patch_make,
//   patch_apply onto the master text, shadow = diff_text2 (the client's text),
//   diff_main(shadow, master) + diff_toDelta for the reply, encode the reply bytes,
//   shadow = master.
// The client then applies the reply (untimed). Every replay must end with the client text,
// the master text and the trace's endContent identical.
//
// Usage: node bench.js --out results.json [--k 1,10,100] [--k1-cap N] trace.json.gz...
//   --k1-cap N: at k = 1, replay only the first N edits of a trace (0 = no cap). tests/bench/run
//   passes none: the whole automerge-paper trace at k = 1 takes about 45 s here (2-core machine),
//   under the 2-minute budget that would call for a cap. A capped run says so in every output line.
'use strict';

const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const DiffMatchPatch = require('diff-match-patch');

const DIFF_EQUAL = DiffMatchPatch.DIFF_EQUAL;

function usage(msg) {
  if (msg) process.stderr.write(`bench.js: ${msg}\n`);
  process.stderr.write('usage: node bench.js --out FILE [--k 1,10,100] [--k1-cap N] TRACE.json.gz...\n');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { out: null, ks: [1, 10, 100], k1Cap: 0, traces: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--out') opts.out = next();
    else if (a === '--k') opts.ks = next().split(',').map((s) => {
      const k = Number(s);
      if (!Number.isInteger(k) || k < 1) usage(`bad k: ${s}`);
      return k;
    });
    else if (a === '--k1-cap') {
      opts.k1Cap = Number(next());
      if (!Number.isInteger(opts.k1Cap) || opts.k1Cap < 0) usage('bad --k1-cap');
    } else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else opts.traces.push(a);
  }
  if (!opts.out) usage('--out is required');
  if (opts.traces.length === 0) usage('no trace given');
  return opts;
}

function loadTrace(file) {
  const raw = JSON.parse(zlib.gunzipSync(fs.readFileSync(file)).toString('utf8'));
  if (typeof raw.endContent !== 'string' || !Array.isArray(raw.txns)) {
    throw new Error(`${file}: not an editing trace (needs endContent and txns)`);
  }
  const txns = raw.txns.map((t, i) => {
    if (!Array.isArray(t.patches) || t.patches.length === 0) throw new Error(`${file}: txn ${i} has no patches`);
    return t.patches;
  });
  const start = typeof raw.startContent === 'string' ? raw.startContent : '';
  // Positions in the traces count code points; JS strings index UTF-16 units. They agree
  // unless a text holds astral characters, in which case we convert (slowly, untimed).
  const astral = /[\uD800-\uDFFF]/.test(raw.endContent) || /[\uD800-\uDFFF]/.test(start)
    || txns.some((ps) => ps.some((p) => /[\uD800-\uDFFF]/.test(p[2])));
  return { name: path.basename(file).replace(/\.json\.gz$/, ''), file, start, end: raw.endContent, txns, astral };
}

// Code-point position -> UTF-16 index in s.
function cpToUnit(s, cp) {
  let unit = 0;
  for (let i = 0; i < cp; i++) {
    if (unit >= s.length) throw new Error(`position ${cp} past the end`);
    const c = s.charCodeAt(unit);
    unit += (c >= 0xd800 && c <= 0xdbff && unit + 1 < s.length) ? 2 : 1;
  }
  return unit;
}

function applyPatch(text, p, astral) {
  const [pos, del, ins] = p;
  if (!astral) {
    if (pos + del > text.length) throw new Error(`patch [${pos}, ${del}] out of range (length ${text.length})`);
    return text.slice(0, pos) + ins + text.slice(pos + del);
  }
  const a = cpToUnit(text, pos);
  const b = a + cpToUnit(text.slice(a), del);
  return text.slice(0, a) + ins + text.slice(b);
}

function newDmp() {
  const dmp = new DiffMatchPatch();
  // Same knobs as the Rust engine (PROTOCOL.md §5): the rest are diff-match-patch's defaults
  // (Match_Threshold 0.5, Match_Distance 1000, Patch_Margin 4).
  dmp.Diff_Timeout = 0.15;
  dmp.Match_Threshold = 0.5;
  dmp.Match_Distance = 1000;
  dmp.Patch_Margin = 4;
  return dmp;
}

// The MobWrite-style server: master text + one client's shadow.
class Server {
  constructor(text) {
    this.dmp = newDmp();
    this.master = text;
    this.shadow = text;
    this.m = 0;
    this.failedHunks = 0;
  }

  // bytes in, bytes out.
  receive(bytes) {
    const msg = bytes.toString('utf8');
    const c1 = msg.indexOf(':', 2);
    if (msg.charCodeAt(0) !== 100 /* d */ || c1 < 0) throw new Error('bad client message');
    const delta = msg.slice(c1 + 1);
    const dmp = this.dmp;
    const diffs = dmp.diff_fromDelta(this.shadow, delta);
    const patches = dmp.patch_make(this.shadow, diffs);
    const [master, results] = dmp.patch_apply(patches, this.master);
    for (const ok of results) if (!ok) this.failedHunks++;
    this.master = master;
    this.shadow = dmp.diff_text2(diffs);
    const reply = dmp.diff_toDelta(dmp.diff_main(this.shadow, this.master));
    this.shadow = this.master;
    const out = Buffer.from(`d:${this.m}:${reply}`, 'utf8');
    this.m++;
    return out;
  }
}

// The typing client (untimed).
class Client {
  constructor(text) {
    this.dmp = newDmp();
    this.text = text;
    this.shadow = text;
    this.n = 0;
  }

  message() {
    const delta = this.dmp.diff_toDelta(this.dmp.diff_main(this.shadow, this.text));
    this.shadow = this.text;
    const out = Buffer.from(`d:${this.n}:${delta}`, 'utf8');
    this.n++;
    return out;
  }

  receive(bytes) {
    const msg = bytes.toString('utf8');
    const c1 = msg.indexOf(':', 2);
    if (msg.charCodeAt(0) !== 100 || c1 < 0) throw new Error('bad server message');
    const diffs = this.dmp.diff_fromDelta(this.shadow, msg.slice(c1 + 1));
    if (diffs.some((d) => d[0] !== DIFF_EQUAL)) {
      const patches = this.dmp.patch_make(this.shadow, diffs);
      this.text = this.dmp.patch_apply(patches, this.text)[0];
      this.shadow = this.dmp.diff_text2(diffs);
    }
  }
}

function replay(trace, k, cap) {
  const edits = cap > 0 ? Math.min(cap, trace.txns.length) : trace.txns.length;
  const server = new Server(trace.start);
  const client = new Client(trace.start);
  let reference = trace.start; // the trace applied plainly, to check the replay
  let serverNs = 0n;
  let syncs = 0;
  let upBytes = 0;
  let downBytes = 0;
  const wall0 = process.hrtime.bigint();
  const sync = () => {
    const msg = client.message();
    const t0 = process.hrtime.bigint();
    const reply = server.receive(msg);
    const t1 = process.hrtime.bigint();
    serverNs += t1 - t0;
    syncs++;
    upBytes += msg.length;
    downBytes += reply.length;
    client.receive(reply);
  };
  for (let i = 0; i < edits; i++) {
    for (const p of trace.txns[i]) {
      client.text = applyPatch(client.text, p, trace.astral);
    }
    reference = client.text;
    if ((i + 1) % k === 0) sync();
  }
  if (edits % k !== 0) sync();
  const wallNs = process.hrtime.bigint() - wall0;
  const capped = edits < trace.txns.length;
  const expected = capped ? reference : trace.end;
  const clientOk = client.text === expected;
  const serverOk = server.master === expected;
  const problems = [];
  if (!clientOk) problems.push(`client text (${client.text.length} units) differs from ${capped ? 'the trace prefix' : 'endContent'} (${expected.length} units)`);
  if (!serverOk) problems.push(`server text (${server.master.length} units) differs from ${capped ? 'the trace prefix' : 'endContent'} (${expected.length} units)`);
  if (server.failedHunks > 0) problems.push(`${server.failedHunks} patch hunks failed on the server`);
  return {
    trace: trace.name,
    k,
    edits,
    total_edits: trace.txns.length,
    capped,
    syncs,
    server_ns: Number(serverNs),
    wall_ns: Number(wallNs),
    rate: edits / (Number(serverNs) / 1e9),
    up_bytes: upBytes,
    down_bytes: downBytes,
    converged: problems.length === 0,
    problems,
  };
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const results = [];
  for (const file of opts.traces) {
    const trace = loadTrace(file);
    for (const k of opts.ks) {
      const cap = k === 1 ? opts.k1Cap : 0;
      const r = replay(trace, k, cap);
      results.push(r);
      const capNote = r.capped ? ` (capped: first ${r.edits} of ${r.total_edits} edits)` : '';
      process.stdout.write(
        `js   ${r.trace.padEnd(22)} k=${String(k).padEnd(3)} ${String(r.edits).padStart(7)} edits in ${r.syncs} syncs: `
        + `server ${(r.server_ns / 1e9).toFixed(3)} s, ${Math.round(r.rate)} edits/s, wall ${(r.wall_ns / 1e9).toFixed(1)} s`
        + `${capNote}${r.converged ? '' : `  NOT CONVERGED: ${r.problems.join('; ')}`}\n`,
      );
    }
  }
  fs.writeFileSync(opts.out, JSON.stringify({
    runtime: `node ${process.version}`,
    library: `diff-match-patch ${require('diff-match-patch/package.json').version}`,
    k1_cap: opts.k1Cap,
    results,
  }, null, 1));
}

main();
