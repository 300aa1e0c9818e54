/**
 * The server side of PROTOCOL.md §5: one `ServerDocument` per open file holds the master text, its revision log,
 * the next expected version of every client, and one view per connected client.
 *
 * Fast path: nobody else changed the master since this client's shadow, so the client's delta applies exactly and
 * other views catch up from the log of recent master changes; the cost follows the edit, not the document.
 * Concurrency: the client's delta is transformed past the master's changes since its shadow, known exactly from
 * that log or, when the log no longer reaches back, found by a bounded diff. Nothing is fuzzy-patched (PROTOCOL.md
 * explains why). The one edit the server refuses is one that would push the document past its size limit.
 * Behaviour mirrors the Rust `Document` (`sync/src/server.rs`) step for step, so both send the same bytes.
 */

import { compose, identity, isIdentity, targetLength, type Delta } from "./delta";
import { diff } from "./dmp";
import { ERROR_CODES, SyncError } from "./errors";
import { hashEquals, type Hash } from "./hash";
import { merge, personFirst, Runs } from "./merge";
import { Text } from "./text";
import { utf8Length } from "./unicode";
import {
  decodeClient,
  DEFAULT_LIMITS,
  encodeMessage,
  type ClientMessage,
  type Failure,
  type Limits,
  type ServerMessage,
} from "./wire";

/** Who made a change. */
export type Author = { kind: "client"; id: number; version: number } | { kind: "disk" } | { kind: "server" };

/** One applied change: `delta` turned the master text before it into the master text after it. */
export interface HistoryEntry {
  timeMs: number;
  author: Author;
  delta: Delta;
}

/** Why the server answered with the whole text. */
export type ResyncReason =
  /** The client asked (first contact, or it found an inconsistency). */
  | "Requested"
  /** No view for this client (new client, forgotten view, restarted server). */
  | "UnknownView"
  /** The client acknowledged a server version we cannot roll back to. */
  | "VersionMismatch"
  /** The client's edits skip a version. */
  | "VersionGap"
  /** A client delta does not fit the view's shadow. */
  | "BadDelta"
  /** The shadows' hashes differ after applying the client's edits. */
  | "HashMismatch"
  /** Too many unacknowledged server edits. */
  | "StackTooLong";

/** What handling one message did. */
export interface Outcome {
  /** The message to send back to the client, if any (none for a stale message). */
  reply?: ServerMessage;
  /** Other clients to send a Nudge: the master changed under them. */
  nudge: number[];
  /** Changes applied to the master, in order, to append to the document's history. */
  history: HistoryEntry[];
  /** Client edits that could not be applied (also listed in the reply). */
  failures: Failure[];
  /** Set when the reply is a Resync. */
  resync?: ResyncReason;
}

/** An encoded message for one client. */
export interface Outgoing {
  to: number;
  bytes: Uint8Array;
}

/** Counters a caller exports as metrics. */
export interface Stats {
  editsApplied: number;
  fastPath: number;
  /** Client edits transformed past concurrent master changes. */
  transformed: number;
  /** Times the master's changes since a shadow had to be found by diffing (the log no longer covered them). */
  diffed: number;
  /** Client edits the server refused (they would push the document over its size limit); each is reported. */
  failures: number;
  resyncs: number;
}

export interface DocumentOptions {
  limits?: Limits;
  /** The saved `appliedVersions()` of a restarted document. */
  applied?: Iterable<[number, number]>;
}

/** `shadow` plus `toMaster` equals the master text at revision `rev`. */
interface SyncPoint {
  toMaster: Delta;
  rev: number;
}

function syncPointAt(rev: number, length: number): SyncPoint {
  return { toMaster: identity(length), rev };
}

interface View {
  shadow: Text;
  shadowN: number;
  shadowM: number;
  /** How the shadow relates to the master, when known exactly. */
  shadowRev: SyncPoint | undefined;
  /** What the client typed into the shadow recently (the run rule of PROTOCOL.md §2). */
  own: Runs;
  backup: Text;
  backupM: number;
  backupRev: SyncPoint | undefined;
  backupOwn: Runs;
  /** Unacknowledged server edits; `stack[i]` has version `stackFirstM + i`. */
  stack: Delta[];
  stackFirstM: number;
  lastSeq: number;
  /**
   * The reply to `lastSeq` (a Reply, or the Resync that made this view), sent again if that message arrives again
   * rather than processing it twice.
   */
  lastReply: ServerMessage | undefined;
  nudged: boolean;
}

function newOutcome(): Outcome {
  return { nudge: [], history: [], failures: [] };
}

function insertedBytes(delta: Delta): number {
  let bytes = 0;
  for (const op of delta) if (op.kind === "insert") bytes += utf8Length(op.text);
  return bytes;
}

/** One document's master text and its views. */
export class ServerDocument {
  private master: Text;
  private rev = 0;
  /** `log[i]` turns master revision `logStart + i` into the next one. */
  private log: Delta[] = [];
  private logStart = 0;
  private readonly views = new Map<number, View>();
  /** Per client id, the next client version expected: every lower one is in the master. */
  private readonly appliedN: Map<number, number>;
  private readonly limits: Limits;
  private readonly counters: Stats = { editsApplied: 0, fastPath: 0, transformed: 0, diffed: 0, failures: 0, resyncs: 0 };

  /** A document holding `text` (`DocumentTooLarge` past the limit), optionally restarted with saved versions. */
  constructor(text = "", options: DocumentOptions = {}) {
    this.limits = options.limits ?? DEFAULT_LIMITS;
    const size = utf8Length(text);
    if (size > this.limits.maxDocumentBytes) {
      throw new SyncError("DocumentTooLarge", `${size} bytes, the limit is ${this.limits.maxDocumentBytes}`);
    }
    this.master = Text.from(text);
    this.appliedN = new Map(options.applied ?? []);
  }

  /** The master text. */
  get text(): string {
    return this.master.toString();
  }

  /** Length of the master text in code points. */
  get length(): number {
    return this.master.length;
  }

  /** The master text's hash. */
  get hash(): Hash {
    return this.master.hash();
  }

  get revision(): number {
    return this.rev;
  }

  get stats(): Stats {
    return { ...this.counters };
  }

  /** Per client id, the next version expected from it, sorted by id: save these with the text, atomically. */
  appliedVersions(): [number, number][] {
    return [...this.appliedN.entries()].sort((a, b) => a[0] - b[0]);
  }

  /** The clients that currently have a view. */
  clients(): number[] {
    return [...this.views.keys()];
  }

  /** Drops a client's view (it disconnected for good, or timed out); its next message gets a Resync. */
  forgetView(client: number): void {
    this.views.delete(client);
  }

  /** Applies a change that did not come from a sync client (the file changed on disk, a revert). */
  edit(author: Author, delta: Delta, nowMs: number): Outcome {
    const next = this.master.apply(delta); // checks the base length
    this.checkSize(delta);
    const outcome = newOutcome();
    if (isIdentity(delta)) return outcome;
    this.master = next;
    this.commit(delta);
    outcome.history.push({ timeMs: nowMs, author, delta });
    outcome.nudge = this.nudgeOthers(undefined);
    return outcome;
  }

  /** `edit` with the diff from the current master to `next`. */
  replaceText(next: string, author: Author, nowMs: number): Outcome {
    return this.edit(author, diff(this.master.toString(), next, this.limits.diffTimeoutMs), nowMs);
  }

  /**
   * Handles one message in its binary form and returns what to send: the reply and the Nudges.
   * Malformed bytes get an Error message back and change nothing.
   */
  receive(client: number, bytes: Uint8Array, nowMs: number): Outgoing[] {
    let message: ClientMessage;
    try {
      message = decodeClient(bytes, this.limits);
    } catch (error) {
      if (!(error instanceof SyncError)) throw error;
      const refusal: ServerMessage = { type: "Error", code: ERROR_CODES[error.kind], message: error.message };
      return [{ to: client, bytes: encodeMessage(refusal) }];
    }
    const outcome = this.receiveMessage(client, message, nowMs);
    const out: Outgoing[] = [];
    if (outcome.reply !== undefined) out.push({ to: client, bytes: encodeMessage(outcome.reply) });
    if (outcome.nudge.length > 0) {
      const nudge = encodeMessage({ type: "Nudge" });
      for (const id of outcome.nudge) out.push({ to: id, bytes: nudge });
    }
    return out;
  }

  /** Handles one message from `client`. */
  receiveMessage(client: number, message: ClientMessage, nowMs: number): Outcome {
    if (message.type === "ResyncRequest") {
      const view = this.views.get(client);
      if (view !== undefined && message.seq < view.lastSeq) return newOutcome();
      if (view !== undefined && message.seq === view.lastSeq) {
        const outcome = newOutcome();
        outcome.reply = view.lastReply;
        return outcome;
      }
      return this.resync(client, message.seq, "Requested", newOutcome());
    }
    return this.sync(client, message.seq, message.mAck, message.nFirst, message.edits, message.hash, nowMs);
  }

  private sync(
    client: number,
    seq: number,
    mAck: number,
    nFirst: number,
    edits: readonly Delta[],
    hash: Hash,
    nowMs: number,
  ): Outcome {
    const outcome = newOutcome();
    const view = this.views.get(client);
    if (view === undefined) return this.resync(client, seq, "UnknownView", outcome);
    if (seq < view.lastSeq) return outcome;
    if (seq === view.lastSeq) {
      if (view.lastReply !== undefined) outcome.reply = view.lastReply;
      return outcome;
    }
    view.lastSeq = seq;
    view.nudged = false;
    if (mAck !== view.shadowM) {
      if (mAck !== view.backupM) return this.resync(client, seq, "VersionMismatch", outcome);
      // Our last reply was lost: the client never saw the edits we stacked since the backup.
      view.shadow = view.backup;
      view.shadowM = view.backupM;
      view.shadowRev = view.backupRev;
      view.own = view.backupOwn.clone();
      view.stack = [];
      view.stackFirstM = view.shadowM;
    }
    while (view.stackFirstM < mAck && view.stack.length > 0) {
      view.stack.shift();
      view.stackFirstM += 1;
    }
    if (view.stack.length === 0) view.stackFirstM = view.shadowM;
    // Check the edits on a copy of the shadow first: an edit reaches the master only once the client's hash
    // proves both sides agree on the text it was made against.
    const firstNew = Math.min(Math.max(view.shadowN - nFirst, 0), edits.length);
    if (nFirst + firstNew < view.shadowN || nFirst > view.shadowN) {
      return this.resync(client, seq, "VersionGap", outcome);
    }
    const newEdits = edits.slice(firstNew);
    // `steps[i]` is the shadow after new edit i: the fast path reuses it as the master instead of applying again.
    const steps: Text[] = [];
    let candidate = view.shadow;
    try {
      for (const delta of newEdits) {
        candidate = candidate.apply(delta);
        steps.push(candidate);
      }
    } catch (error) {
      if (error instanceof SyncError) return this.resync(client, seq, "BadDelta", outcome);
      throw error;
    }
    if (!hashEquals(candidate.hash(), hash)) return this.resync(client, seq, "HashMismatch", outcome);
    let changed = false;
    newEdits.forEach((delta, index) => {
      changed = this.applyClientEdit(client, view, view.shadowN, delta, steps[index]!, nowMs, outcome) || changed;
    });
    view.backup = view.shadow;
    view.backupM = view.shadowM;
    view.backupRev = view.shadowRev;
    view.backupOwn = view.own.clone();
    this.catchUp(view);
    if (view.stack.length > this.limits.maxStack) return this.resync(client, seq, "StackTooLong", outcome);
    const reply: ServerMessage = {
      type: "Reply",
      seq,
      nAck: view.shadowN,
      mFirst: view.stackFirstM,
      edits: [...view.stack],
      hash: view.shadow.hash(),
      failures: [...outcome.failures],
    };
    view.lastReply = reply;
    outcome.reply = reply;
    if (changed) outcome.nudge = this.nudgeOthers(client);
    return outcome;
  }

  /** Applies one client edit to the view's shadow and to the master; returns whether the master changed. */
  private applyClientEdit(
    client: number,
    view: View,
    version: number,
    delta: Delta,
    shadowAfter: Text,
    nowMs: number,
    outcome: Outcome,
  ): boolean {
    const author: Author = { kind: "client", id: client, version };
    let changed = false;
    if (!this.fits(delta)) {
      // Too big to keep: refused, so the client is told and the next reply reverts it there.
      this.counters.failures += 1;
      const dropped = delta.map((op) => (op.kind === "insert" ? op.text : "")).join("");
      outcome.failures.push({ n: version, dropped });
      view.shadow = shadowAfter;
      view.own.map(delta, true);
      view.shadowRev = undefined;
    } else {
      // Merge the client's edit with the master's changes since its shadow (PROTOCOL.md §2, "Merging"): exact from
      // the log on the common path, else found by a bounded diff.
      let toMaster = this.toMaster(view);
      if (toMaster === undefined) {
        this.counters.diffed += 1;
        toMaster = diff(view.shadow.toString(), this.master.toString(), this.limits.diffTimeoutMs);
      }
      const exact = isIdentity(toMaster);
      let ontoMaster: Delta = delta;
      let stillBehind: Delta = identity(targetLength(delta));
      if (!exact) {
        // The client's keystroke goes right after the character it was typed after, before what others inserted
        // there concurrently, unless it was typed in front of the client's own recent text.
        const own = view.own;
        const merged = merge(view.shadow, this.master, delta, toMaster, (tie) =>
          personFirst(own, tie.aLeft, tie.aRight, (origin) => origin.base),
        );
        ontoMaster = merged.a;
        stillBehind = merged.b;
      }
      if (exact) this.counters.fastPath += 1;
      else this.counters.transformed += 1;
      // On the fast path the shadow is the master's text, so the shadow after the edit is the new master.
      this.master = exact ? shadowAfter : this.master.apply(ontoMaster);
      if (!isIdentity(ontoMaster)) {
        this.commit(ontoMaster);
        outcome.history.push({ timeMs: nowMs, author, delta: ontoMaster });
        changed = true;
      }
      view.shadow = exact ? this.master : shadowAfter;
      view.own.map(delta, true);
      view.shadowRev = { toMaster: stillBehind, rev: this.rev };
    }
    this.counters.editsApplied += 1;
    view.shadowN += 1;
    this.appliedN.set(client, view.shadowN);
    return changed;
  }

  /** The size bound the Rust engine uses: current master bytes plus inserted bytes. */
  private fits(delta: Delta): boolean {
    return this.master.utf8Length + insertedBytes(delta) <= this.limits.maxDocumentBytes;
  }

  private checkSize(delta: Delta): void {
    const size = this.master.utf8Length + insertedBytes(delta);
    if (size > this.limits.maxDocumentBytes) {
      throw new SyncError("DocumentTooLarge", `${size} bytes, the limit is ${this.limits.maxDocumentBytes}`);
    }
  }

  /** Records a master change in the revision log. */
  private commit(delta: Delta): void {
    this.rev += 1;
    this.log.push(delta);
    if (this.log.length > this.limits.maxLog) {
      const drop = this.log.length - this.limits.maxLog;
      this.log.splice(0, drop);
      this.logStart += drop;
    }
  }

  /** Brings the view's shadow up to the master, stacking the edit the client must apply. */
  private catchUp(view: View): void {
    const change = this.toMaster(view) ?? diff(view.shadow.toString(), this.master.toString(), this.limits.diffTimeoutMs);
    if (!isIdentity(change)) {
      view.own.map(change, false);
      view.stack.push(change);
      view.shadowM += 1;
    }
    view.shadow = this.master;
    view.shadowRev = syncPointAt(this.rev, this.master.length);
  }

  /** The exact delta from the view's shadow to the current master, if the log still covers it. */
  private toMaster(view: View): Delta | undefined {
    const point = view.shadowRev;
    if (point === undefined) return undefined;
    if (point.rev === this.rev) return point.toMaster;
    if (point.rev < this.logStart) return undefined;
    let change = point.toMaster;
    try {
      for (const delta of this.log.slice(point.rev - this.logStart)) change = compose(change, delta);
    } catch (error) {
      if (error instanceof SyncError) return undefined;
      throw error;
    }
    return change;
  }

  private nudgeOthers(except: number | undefined): number[] {
    const nudge: number[] = [];
    for (const [id, view] of this.views) {
      const level = view.shadowRev !== undefined && view.shadowRev.rev === this.rev && isIdentity(view.shadowRev.toMaster);
      if (id !== except && !view.nudged && !level) {
        view.nudged = true;
        nudge.push(id);
      }
    }
    return nudge.sort((a, b) => a - b);
  }

  /** Replaces the client's view with a fresh one on the master text and answers with the whole text. */
  private resync(client: number, seq: number, reason: ResyncReason, outcome: Outcome): Outcome {
    this.counters.resyncs += 1;
    const m = this.views.get(client)?.shadowM ?? 0;
    const n = this.appliedN.get(client) ?? 0;
    this.views.set(client, {
      shadow: this.master,
      shadowN: n,
      shadowM: m,
      shadowRev: syncPointAt(this.rev, this.master.length),
      own: new Runs(),
      backup: this.master,
      backupM: m,
      backupRev: syncPointAt(this.rev, this.master.length),
      backupOwn: new Runs(),
      stack: [],
      stackFirstM: m,
      lastSeq: seq,
      lastReply: undefined,
      nudged: false,
    });
    const reply: ServerMessage = { type: "Resync", seq, n, m, text: this.master.toString(), hash: this.master.hash() };
    const view = this.views.get(client);
    if (view !== undefined) view.lastReply = reply;
    outcome.reply = reply;
    outcome.resync = reason;
    if (outcome.history.length > 0) outcome.nudge = this.nudgeOthers(client);
    return outcome;
  }
}
