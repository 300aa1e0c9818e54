/**
 * The server side of PROTOCOL.md §5: one `ServerDocument` per open file holds the master text, its revision log,
 * the next expected version of every client, and one view per connected client.
 *
 * Fast path: when a view's shadow is the current master revision, a client edit applies to the master exactly and
 * nothing needs diffing. Fuzzy path: otherwise diff-match-patch places the edit on the drifted master, and every
 * hunk it cannot place is reported back to the client as a failure.
 */

import { baseLength, identity, isIdentity, type Delta } from "./delta";
import { DEFAULT_DMP, diff, fuzzyApply, type DmpSettings } from "./dmp";
import { ERROR_CODES, SyncError } from "./errors";
import { hashEquals } from "./hash";
import { Text } from "./text";
import {
  decodeClient,
  DEFAULT_LIMITS,
  encodeMessage,
  type Failure,
  type Limits,
  type ServerMessage,
  type Sync,
} from "./wire";

/** One applied client edit, for history browsing and revert. */
export interface HistoryEntry {
  time: number;
  author: string;
  /** The client version of the edit. */
  version: number;
  /** What the edit did to the master text (identity when nothing of it could be placed). */
  delta: Delta;
}

/** A message for one client. */
export interface Outgoing {
  to: string;
  message: ServerMessage;
  bytes: Uint8Array;
}

export interface DocumentOptions {
  limits?: Limits;
  dmp?: DmpSettings;
  /** How many recent master changes the log keeps for catching views up without a diff. */
  logLimit?: number;
  /** `applied_n` per client as saved with the text. */
  appliedN?: Iterable<[string, number]>;
  /** Clock for history entries (milliseconds). */
  now?: () => number;
}

interface View {
  shadow: Text;
  shadowN: number;
  shadowM: number;
  /** The master revision the shadow equals, if it equals one. */
  shadowRev: number | undefined;
  backup: Text;
  backupM: number;
  backupRev: number | undefined;
  stack: { m: number; delta: Delta }[];
  lastSeq: number;
}

export class ServerDocument {
  private master: Text;
  private rev = 0;
  /** `(rev, delta)`: `delta` took the master from `rev - 1` to `rev`. */
  private log: { rev: number; delta: Delta }[] = [];
  private readonly appliedN: Map<string, number>;
  private readonly views = new Map<string, View>();
  /** Every applied client edit, oldest first. */
  readonly history: HistoryEntry[] = [];
  private readonly limits: Limits;
  private readonly dmp: DmpSettings;
  private readonly logLimit: number;
  private readonly now: () => number;

  constructor(text = "", options: DocumentOptions = {}) {
    this.limits = options.limits ?? DEFAULT_LIMITS;
    this.dmp = options.dmp ?? DEFAULT_DMP;
    this.logLimit = options.logLimit ?? 1024;
    this.now = options.now ?? Date.now;
    this.appliedN = new Map(options.appliedN ?? []);
    this.master = Text.from(text);
    if (this.master.utf8Length > this.limits.maxDocumentBytes) {
      throw new SyncError(
        "DocumentTooLarge",
        `${this.master.utf8Length} bytes, the limit is ${this.limits.maxDocumentBytes}`,
      );
    }
  }

  /** The master text. */
  get text(): string {
    return this.master.toString();
  }

  get revision(): number {
    return this.rev;
  }

  /** `applied_n` per client, to save with the text. */
  appliedVersions(): Map<string, number> {
    return new Map(this.appliedN);
  }

  /** The client ids with a view. */
  viewIds(): string[] {
    return [...this.views.keys()];
  }

  /** Drops a client's view (its `applied_n` stays). */
  disconnect(clientId: string): void {
    this.views.delete(clientId);
  }

  /**
   * Handles one message from `clientId` and returns what to send: the reply (if any) and Nudges for other views.
   * Malformed bytes get an Error message back and change nothing.
   */
  receive(clientId: string, bytes: Uint8Array): Outgoing[] {
    let message;
    try {
      message = decodeClient(bytes, this.limits);
    } catch (error) {
      if (!(error instanceof SyncError)) throw error;
      return [this.out(clientId, { type: "Error", code: ERROR_CODES[error.kind], message: error.message })];
    }
    if (message.type === "ResyncRequest") return [this.resync(clientId, message.seq)];
    return this.onSync(clientId, message);
  }

  /**
   * A change from outside the clients (the file changed on disk): the master becomes `next`, logged like any
   * change, and every view is nudged.
   */
  replaceText(next: string, author = "disk"): Outgoing[] {
    const current = this.master.toString();
    if (current === next) return [];
    const delta = diff(current, next, this.dmp);
    const text = this.master.apply(delta);
    if (text.utf8Length > this.limits.maxDocumentBytes) {
      throw new SyncError("DocumentTooLarge", `${text.utf8Length} bytes, the limit is ${this.limits.maxDocumentBytes}`);
    }
    this.commit(text, delta);
    this.history.push({ time: this.now(), author, version: 0, delta });
    return this.nudges(undefined);
  }

  private out(to: string, message: ServerMessage): Outgoing {
    return { to, message, bytes: encodeMessage(message) };
  }

  private commit(text: Text, delta: Delta): void {
    this.master = text;
    this.rev += 1;
    this.log.push({ rev: this.rev, delta });
    if (this.log.length > this.logLimit) this.log.shift();
  }

  /** The view becomes the master text; the client gets it whole. */
  private resync(clientId: string, seq: number): Outgoing {
    const old = this.views.get(clientId);
    const view: View = {
      shadow: this.master,
      shadowN: this.appliedN.get(clientId) ?? 0,
      shadowM: old?.shadowM ?? 0,
      shadowRev: this.rev,
      backup: this.master,
      backupM: old?.shadowM ?? 0,
      backupRev: this.rev,
      stack: [],
      lastSeq: seq,
    };
    this.views.set(clientId, view);
    return this.out(clientId, {
      type: "Resync",
      seq,
      n: view.shadowN,
      m: view.shadowM,
      text: this.master.toString(),
      hash: this.master.hash(),
    });
  }

  private onSync(clientId: string, sync: Sync): Outgoing[] {
    const view = this.views.get(clientId);
    if (view === undefined) return [this.resync(clientId, sync.seq)];
    // 1. Stale.
    if (sync.seq < view.lastSeq) return [];
    view.lastSeq = sync.seq;
    // 2. Our last reply was lost: roll back to what the client has.
    if (sync.mAck !== view.shadowM) {
      if (sync.mAck !== view.backupM) return [this.resync(clientId, sync.seq)];
      view.shadow = view.backup;
      view.shadowM = view.backupM;
      view.shadowRev = view.backupRev;
      view.stack = [];
    }
    // 3. Acknowledged server edits.
    view.stack = view.stack.filter((entry) => entry.m >= sync.mAck);
    // 4. Client edits.
    const failures: Failure[] = [];
    for (let i = 0; i < sync.edits.length; i++) {
      const version = sync.nFirst + i;
      const delta = sync.edits[i]!;
      if (version < view.shadowN) continue;
      if (version > view.shadowN || baseLength(delta) !== view.shadow.length) return [this.resync(clientId, sync.seq)];
      const onMaster = this.applyClientEdit(view, delta, version, failures);
      view.shadowN += 1;
      this.appliedN.set(clientId, view.shadowN);
      this.history.push({ time: this.now(), author: clientId, version, delta: onMaster });
    }
    // 5. The client's shadow must be ours.
    if (!hashEquals(view.shadow.hash(), sync.hash)) return [this.resync(clientId, sync.seq)];
    // 6. The client has everything up to shadow_m.
    view.backup = view.shadow;
    view.backupM = view.shadowM;
    view.backupRev = view.shadowRev;
    // 7. Catch the view up with the master.
    if (view.shadowRev !== this.rev) {
      const logged = view.shadowRev === undefined ? undefined : this.loggedSince(view.shadowRev);
      if (logged !== undefined) {
        for (const delta of logged) view.stack.push({ m: view.shadowM++, delta });
      } else {
        const delta = diff(view.shadow.toString(), this.master.toString(), this.dmp);
        if (!isIdentity(delta)) view.stack.push({ m: view.shadowM++, delta });
      }
      view.shadow = this.master;
      view.shadowRev = this.rev;
      if (view.stack.length > this.limits.maxStack) return [this.resync(clientId, sync.seq)];
    }
    // 8. Reply, and nudge every view that is behind.
    const reply = this.out(clientId, {
      type: "Reply",
      seq: sync.seq,
      nAck: view.shadowN,
      mFirst: view.stack[0]?.m ?? view.shadowM,
      edits: view.stack.map((entry) => entry.delta),
      hash: view.shadow.hash(),
      failures,
    });
    return [reply, ...this.nudges(clientId)];
  }

  /** Applies one client edit (already checked against the view's shadow); returns what it did to the master. */
  private applyClientEdit(view: View, delta: Delta, version: number, failures: Failure[]): Delta {
    if (view.shadowRev === this.rev) {
      // Fast path: the shadow is the master, so the edit applies exactly.
      const next = this.master.apply(delta);
      if (next.utf8Length <= this.limits.maxDocumentBytes) {
        this.commit(next, delta);
        view.shadow = this.master;
        view.shadowRev = this.rev;
        return delta;
      }
      failures.push({ n: version, dropped: insertedText(delta) });
      view.shadow = view.shadow.apply(delta);
      view.shadowRev = undefined;
      return identity(this.master.length);
    }
    // Fuzzy path: place the edit on a master that drifted from the shadow.
    const before = this.master.toString();
    const result = fuzzyApply(view.shadow.toString(), delta, before, this.dmp);
    let onMaster: Delta = identity(this.master.length);
    if (result.text !== before) {
      const change = diff(before, result.text, this.dmp);
      const next = this.master.apply(change);
      if (next.utf8Length <= this.limits.maxDocumentBytes) {
        this.commit(next, change);
        onMaster = change;
        for (const dropped of result.dropped) failures.push({ n: version, dropped });
      } else {
        failures.push({ n: version, dropped: insertedText(delta) });
      }
    } else {
      for (const dropped of result.dropped) failures.push({ n: version, dropped });
    }
    view.shadow = view.shadow.apply(delta);
    view.shadowRev = undefined;
    return onMaster;
  }

  /** The logged deltas after revision `rev`, or undefined when the log no longer holds all of them. */
  private loggedSince(rev: number): Delta[] | undefined {
    const count = this.rev - rev;
    if (count < 0 || count > this.log.length) return undefined;
    return this.log.slice(this.log.length - count).map((entry) => entry.delta);
  }

  private nudges(except: string | undefined): Outgoing[] {
    const out: Outgoing[] = [];
    for (const [id, view] of this.views) {
      if (id !== except && view.shadowRev !== this.rev) out.push(this.out(id, { type: "Nudge" }));
    }
    return out;
  }
}

function insertedText(delta: Delta): string {
  return delta.map((op) => (op.kind === "insert" ? op.text : "")).join("");
}
