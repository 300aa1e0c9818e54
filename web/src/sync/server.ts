/**
 * The server side of PROTOCOL.md §5: one `ServerDocument` per open file holds the master text, its revision log,
 * the next expected version of every client, and one view per connected client.
 *
 * Fast path: when a view's shadow is the current master revision, a client edit applies to the master exactly and
 * other views catch up from the log of recent master changes, so the cost follows the edit, not the document.
 * Fuzzy path: otherwise diff-match-patch places the edit on the drifted master, and every hunk it cannot place is
 * reported back to the client. Behaviour mirrors the Rust `Document` (`sync/src/server.rs`).
 */

import { isIdentity, type Delta } from "./delta";
import { DEFAULT_DMP, diff, fuzzyApply, type DmpSettings } from "./dmp";
import { ERROR_CODES, SyncError } from "./errors";
import { hashEquals, type Hash } from "./hash";
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
  | "Requested"
  | "UnknownView"
  | "VersionMismatch"
  | "VersionGap"
  | "BadDelta"
  | "HashMismatch"
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
  fuzzyPath: number;
  fuzzyFailures: number;
  resyncs: number;
}

export interface DocumentOptions {
  limits?: Limits;
  dmp?: DmpSettings;
  /** How many recent master changes the log keeps to catch views up without diffing. */
  maxLog?: number;
  /** The saved `appliedVersions()` of a restarted document. */
  applied?: Iterable<[number, number]>;
  /**
   * Not in PROTOCOL.md v1 (off by default): answer a repeated Sync (same seq as the last one handled) with the very
   * reply sent the first time, instead of handling it again. Handling it again rolls the view back and re-derives
   * its server edits; when the master changed in between, the second reply differs from the first, and the client,
   * which acts on whichever arrives first, ends up out of step with the view and needs a resync.
   */
  replayDuplicateReplies?: boolean;
}

interface View {
  shadow: Text;
  shadowN: number;
  shadowM: number;
  /** The master revision the shadow equals, when it equals one. */
  shadowRev: number | undefined;
  backup: Text;
  backupM: number;
  backupRev: number | undefined;
  /** Unacknowledged server edits; `stack[i]` has version `stackFirstM + i`. */
  stack: Delta[];
  stackFirstM: number;
  lastSeq: number;
  /** The reply to `lastSeq`, for `replayDuplicateReplies`. */
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
  private readonly dmp: DmpSettings;
  private readonly maxLog: number;
  private readonly replayDuplicates: boolean;
  private readonly counters: Stats = { editsApplied: 0, fastPath: 0, fuzzyPath: 0, fuzzyFailures: 0, resyncs: 0 };

  /** A document holding `text` (`DocumentTooLarge` past the limit), optionally restarted with saved versions. */
  constructor(text = "", options: DocumentOptions = {}) {
    this.limits = options.limits ?? DEFAULT_LIMITS;
    this.dmp = options.dmp ?? DEFAULT_DMP;
    this.maxLog = options.maxLog ?? 1024;
    this.replayDuplicates = options.replayDuplicateReplies ?? false;
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
    return this.edit(author, diff(this.master.toString(), next, this.dmp), nowMs);
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
      if (this.replayDuplicates && view !== undefined && message.seq === view.lastSeq && view.lastReply !== undefined) {
        return { ...newOutcome(), reply: view.lastReply };
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
    if (this.replayDuplicates && seq === view.lastSeq && view.lastReply !== undefined) {
      outcome.reply = view.lastReply;
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
    // `steps[i]` is the shadow after new edit i; the fast path reuses it as the master instead of applying again.
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
    this.catchUp(view);
    if (view.stack.length > this.limits.maxStack) return this.resync(client, seq, "StackTooLong", outcome);
    outcome.reply = {
      type: "Reply",
      seq,
      nAck: view.shadowN,
      mFirst: view.stackFirstM,
      edits: [...view.stack],
      hash: view.shadow.hash(),
      failures: [...outcome.failures],
    };
    view.lastReply = outcome.reply;
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
      // Too big to keep: dropped like a failed patch, so the client is told and the next reply reverts it there.
      this.counters.fuzzyFailures += 1;
      const dropped = delta.map((op) => (op.kind === "insert" ? op.text : "")).join("");
      outcome.failures.push({ n: version, dropped });
      view.shadow = shadowAfter;
      view.shadowRev = undefined;
    } else if (view.shadowRev === this.rev) {
      this.counters.fastPath += 1;
      // The shadow is the master revision: the shadow after the edit is the new master, computed once.
      this.master = view.shadow === this.master ? shadowAfter : this.master.apply(delta);
      if (!isIdentity(delta)) {
        this.commit(delta);
        outcome.history.push({ timeMs: nowMs, author, delta });
        changed = true;
      }
      view.shadow = this.master;
      view.shadowRev = this.rev;
    } else {
      this.counters.fuzzyPath += 1;
      const master = this.master.toString();
      const result = fuzzyApply(view.shadow.toString(), delta, master, this.dmp);
      for (const dropped of result.dropped) {
        this.counters.fuzzyFailures += 1;
        outcome.failures.push({ n: version, dropped });
      }
      if (result.text !== master) {
        const change = diff(master, result.text, this.dmp);
        this.master = this.master.apply(change);
        this.commit(change);
        outcome.history.push({ timeMs: nowMs, author, delta: change });
        changed = true;
      }
      view.shadow = shadowAfter;
      view.shadowRev = undefined;
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
    if (this.log.length > this.maxLog) {
      const drop = this.log.length - this.maxLog;
      this.log.splice(0, drop);
      this.logStart += drop;
    }
  }

  /** Brings the view's shadow up to the master, stacking the edits the client must apply. */
  private catchUp(view: View): void {
    const rev = view.shadowRev;
    if (rev === this.rev) return;
    if (rev !== undefined && rev >= this.logStart) {
      for (const delta of this.log.slice(rev - this.logStart)) {
        view.stack.push(delta);
        view.shadowM += 1;
      }
    } else {
      const change = diff(view.shadow.toString(), this.master.toString(), this.dmp);
      if (!isIdentity(change)) {
        view.stack.push(change);
        view.shadowM += 1;
      }
    }
    view.shadow = this.master;
    view.shadowRev = this.rev;
  }

  private nudgeOthers(except: number | undefined): number[] {
    const nudge: number[] = [];
    for (const [id, view] of this.views) {
      if (id !== except && !view.nudged && view.shadowRev !== this.rev) {
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
      shadowRev: this.rev,
      backup: this.master,
      backupM: m,
      backupRev: this.rev,
      stack: [],
      stackFirstM: m,
      lastSeq: seq,
      lastReply: undefined,
      nudged: false,
    });
    outcome.reply = { type: "Resync", seq, n, m, text: this.master.toString(), hash: this.master.hash() };
    this.views.get(client)!.lastReply = outcome.reply;
    outcome.resync = reason;
    if (outcome.history.length > 0) outcome.nudge = this.nudgeOthers(client);
    return outcome;
  }
}
