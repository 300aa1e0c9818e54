/**
 * The client state machine of PROTOCOL.md §4: local edits, one message in flight, retransmission, and the
 * handling of Reply, Resync, Nudge and Error. Pure: the caller moves bytes and decides when a retransmission is due.
 *
 * The client never diffs on the common path: local edits compose into `pending`, and server edits are transformed
 * past `pending` exactly. Positions and lengths are code points; the text is a chunked `Text`, so an edit and the
 * shadow hash cost O(chunk + chunks), not O(document). Behaviour mirrors the Rust `Client` (`sync/src/client.rs`).
 */

import { checkBase, compose, identity, isIdentity, splice as spliceDelta, type Delta } from "./delta";
import { diff } from "./dmp";
import { SyncError } from "./errors";
import { hashEquals, hashText, type Hash } from "./hash";
import { merge, personFirst, Runs } from "./merge";
import { Text } from "./text";
import { utf8Length } from "./unicode";
import { decodeServer, DEFAULT_LIMITS, encodeMessage, type ClientMessage, type Limits, type ServerMessage } from "./wire";

/** What a received message did to the client, for the editor and the user. */
export type ClientEvent =
  /** Remote changes reached the text; `delta` turns the previous text into the current one (map cursors through it). */
  | { type: "changed"; delta: Delta }
  /** The server could not apply our edit `n`; `dropped` is the text that did not make it. Show it to the user. */
  | { type: "failed"; n: number; dropped: string }
  /** The client found an inconsistency and asks for the whole text on its next message. */
  | { type: "resyncNeeded"; reason: string }
  /** The server refused a message. */
  | { type: "serverError"; code: number; message: string };

export interface ClientOptions {
  limits?: Limits;
}

export class SyncClient {
  private textValue: Text = Text.empty;
  private shadowValue: Text = Text.empty;
  /** Turns the shadow into the text: local edits not yet sent. */
  private pending: Delta = [];
  /** Sent, unacknowledged edits; `stack[i]` has version `stackFirstN + i`. */
  private stack: Delta[] = [];
  private stackFirstN = 0;
  /** The shadow before the first stack entry. */
  private stackBase: Text = Text.empty;
  /** What this client typed into the text recently (the run rule of PROTOCOL.md §2). */
  private own = new Runs();
  private n = 0;
  private m = 0;
  private seq = 0;
  private inFlight: { message: ClientMessage; bytes: Uint8Array } | undefined;
  private synced = false;
  private wantSync = false;
  private readonly limits: Limits;

  /** A client that has not seen the document yet: its first message asks for the whole text. */
  constructor(options: ClientOptions = {}) {
    this.limits = options.limits ?? DEFAULT_LIMITS;
  }

  /** The editor's text. */
  get text(): string {
    return this.textValue.toString();
  }

  /** Length of the text in code points. */
  get length(): number {
    return this.textValue.length;
  }

  /** The shadow: the text both sides agreed on, plus our sent edits. */
  get shadow(): string {
    return this.shadowValue.toString();
  }

  /** Length of the shadow in code points. */
  get shadowLength(): number {
    return this.shadowValue.length;
  }

  /** The hash of the shadow. */
  get shadowHash(): Hash {
    return this.shadowValue.hash();
  }

  /** True once the client holds the document (its first Resync arrived). */
  get isSynced(): boolean {
    return this.synced;
  }

  /** True while a message awaits its reply. */
  get isInFlight(): boolean {
    return this.inFlight !== undefined;
  }

  /** True when the client has local edits the server has not acknowledged. */
  get hasUnacknowledged(): boolean {
    return this.stack.length > 0 || !isIdentity(this.pending);
  }

  /** The next client version; every version below it has been sent at least once. */
  get version(): number {
    return this.n;
  }

  /** Server versions applied to the shadow. */
  get serverVersion(): number {
    return this.m;
  }

  /** A local edit: replace `del` code points at `pos` with `ins`. */
  splice(pos: number, del: number, ins: string): void {
    this.edit(spliceDelta(this.textValue.length, pos, del, ins));
  }

  /** A local edit given as a delta against the current text. */
  edit(delta: Delta): void {
    const next = this.textValue.apply(delta); // checks the base length
    let inserted = 0;
    for (const op of delta) if (op.kind === "insert") inserted += utf8Length(op.text);
    // The same bound as the Rust client: current size plus inserted bytes.
    const size = this.textValue.utf8Length + inserted;
    if (size > this.limits.maxDocumentBytes) {
      throw new SyncError("DocumentTooLarge", `${size} bytes, the limit is ${this.limits.maxDocumentBytes}`);
    }
    this.pending = compose(this.pending, delta);
    this.textValue = next;
    this.own.map(delta, true);
  }

  /** Replaces the whole text by `next`, as a diff of it (for editors that hand over whole texts). */
  replaceText(next: string): void {
    const current = this.textValue.toString();
    if (current !== next) this.edit(diff(current, next, this.limits.diffTimeoutMs));
  }

  /** The message to send now, if any: nothing while a message is in flight. */
  pollMessage(): ClientMessage | undefined {
    if (this.inFlight !== undefined) return undefined;
    let message: ClientMessage;
    if (!this.synced) {
      message = { type: "ResyncRequest", seq: this.seq + 1 };
    } else {
      if (!isIdentity(this.pending)) {
        const pending = this.pending;
        this.shadowValue = this.shadowValue.apply(pending);
        this.pending = identity(this.textValue.length);
        if (this.stack.length === 0) this.stackFirstN = this.n;
        this.stack.push(pending);
        this.n += 1;
      }
      if (this.stack.length === 0 && !this.wantSync) return undefined;
      if (this.stack.length > this.limits.maxStack) {
        this.synced = false;
        return this.pollMessage();
      }
      message = {
        type: "Sync",
        seq: this.seq + 1,
        mAck: this.m,
        nFirst: this.stack.length === 0 ? this.n : this.stackFirstN,
        edits: [...this.stack],
        hash: this.shadowValue.hash(),
      };
    }
    this.seq = message.seq;
    this.wantSync = false;
    this.inFlight = { message, bytes: encodeMessage(message) };
    return message;
  }

  /** `pollMessage()`, encoded. */
  poll(): Uint8Array | undefined {
    return this.pollMessage() === undefined ? undefined : this.inFlight!.bytes;
  }

  /** Asks for a Sync on the next poll even without local edits (to fetch remote changes or acknowledge them). */
  requestSync(): void {
    this.wantSync = true;
  }

  /** The message in flight, to send again (same seq) after a timeout or a reconnect. */
  retransmit(): Uint8Array | undefined {
    return this.inFlight?.bytes;
  }

  /** Forgets the message in flight (its connection is gone and the reply can never come); the next poll sends afresh. */
  resetInFlight(): void {
    this.inFlight = undefined;
  }

  /** Handles one server message in its binary form. Malformed bytes throw a `SyncError` and change nothing. */
  receive(bytes: Uint8Array): ClientEvent[] {
    return this.receiveMessage(decodeServer(bytes, this.limits));
  }

  /** Handles one server message. */
  receiveMessage(message: ServerMessage): ClientEvent[] {
    switch (message.type) {
      case "Nudge":
        if (this.inFlight === undefined) this.wantSync = true;
        return [];
      case "Error":
        this.inFlight = undefined;
        this.synced = false;
        return [{ type: "serverError", code: message.code, message: message.message }];
      case "Reply": {
        const sent = this.inFlight?.message;
        if (sent === undefined || sent.type !== "Sync" || sent.seq !== message.seq) return []; // stale or duplicate
        this.inFlight = undefined;
        const events: ClientEvent[] = message.failures.map((failure) => ({
          type: "failed",
          n: failure.n,
          dropped: failure.dropped,
        }));
        const outcome = this.applyReply(message.nAck, message.mFirst, message.edits, message.hash);
        if (typeof outcome === "string") {
          this.synced = false;
          events.push({ type: "resyncNeeded", reason: outcome });
        } else if (outcome !== undefined) {
          events.push({ type: "changed", delta: outcome });
        }
        return events;
      }
      case "Resync": {
        if (this.inFlight === undefined || this.inFlight.message.seq !== message.seq) return [];
        this.inFlight = undefined;
        if (!hashEquals(hashText(message.text), message.hash)) {
          this.synced = false;
          return [{ type: "resyncNeeded", reason: "resync text does not match its hash" }];
        }
        return this.applyResync(message.n, message.m, message.text);
      }
    }
  }

  /**
   * Applies a Reply on copies and commits only if all of it fits. Returns the change to the text (if any), or the
   * reason a resync is needed.
   */
  private applyReply(nAck: number, mFirst: number, edits: readonly Delta[], hash: Hash): Delta | undefined | string {
    if (nAck !== this.n) return `server acknowledged up to ${nAck}, we sent up to ${this.n}`;
    let shadow = this.shadowValue;
    let text = this.textValue;
    let pending = this.pending;
    const own = this.own.clone();
    let m = this.m;
    let change: Delta | undefined;
    try {
      for (let index = 0; index < edits.length; index++) {
        const version = mFirst + index;
        const delta = edits[index]!;
        if (version < m) continue;
        if (version > m) return `server edit ${version} arrived before ${m}`;
        checkBase(delta, shadow.length);
        // The server's edit goes onto our text, our unsent edits after it; where both insert at one spot ours goes
        // first (right after the character it was typed after) unless typed in front of our own text.
        const merged = merge(shadow, text, delta, pending, (tie) => !personFirst(own, tie.bLeft, tie.bRight, (origin) => origin.out));
        const forText = merged.a;
        pending = merged.b;
        shadow = shadow.apply(delta);
        text = text.apply(forText);
        own.map(forText, false);
        change = change === undefined ? forText : compose(change, forText);
        m += 1;
      }
    } catch (error) {
      if (error instanceof SyncError) return error.message;
      throw error;
    }
    if (mFirst + edits.length !== m) return `server versions end at ${mFirst + edits.length}, ours at ${m}`;
    if (!hashEquals(shadow.hash(), hash)) return "shadow hash mismatch";
    this.stack = [];
    this.stackFirstN = this.n;
    this.stackBase = shadow;
    this.shadowValue = shadow;
    this.textValue = text;
    this.pending = pending;
    this.own = own;
    this.m = m;
    return change;
  }

  /**
   * Takes the server's whole text and merges our unacknowledged edits onto it.
   *
   * Three-way: `base` is the text our unacknowledged edits start from; our changes (base to text) are known exactly,
   * the server's (base to its text) come from a diff; ours are transformed past the server's, so neither side's
   * insertions can be lost and nothing is applied twice.
   */
  private applyResync(n: number, m: number, serverText: string): ClientEvent[] {
    const applied = Math.min(Math.max(n - this.stackFirstN, 0), this.stack.length);
    let base = this.stackBase;
    for (const delta of this.stack.slice(0, applied)) base = base.apply(delta);
    let local: Delta = identity(base.length);
    for (const delta of this.stack.slice(applied)) local = compose(local, delta);
    local = compose(local, this.pending);
    const remote = diff(base.toString(), serverText, this.limits.diffTimeoutMs);
    const own = this.own;
    const merged = merge(base, this.textValue, remote, local, (tie) => !personFirst(own, tie.bLeft, tie.bRight, (origin) => origin.out));
    const change = merged.a;
    const pending = merged.b;
    const server = Text.from(serverText);
    this.textValue = this.textValue.apply(change);
    this.own.map(change, false);
    this.pending = pending;
    this.shadowValue = server;
    this.stackBase = server;
    this.stack = [];
    this.stackFirstN = n;
    this.n = n;
    this.m = m;
    this.synced = true;
    this.wantSync = false;
    return isIdentity(change) ? [] : [{ type: "changed", delta: change }];
  }
}
