/**
 * The client state machine of PROTOCOL.md §4: local edits, one message in flight, retransmission, and the
 * handling of Reply, Resync, Nudge and Error. Pure: the caller moves bytes and decides when a retransmission is due.
 *
 * Positions and lengths are code points. The text is kept as a chunked `Text`, so an edit and the shadow hash
 * cost O(chunk + chunks), not O(document).
 */

import {
  baseLength,
  compose,
  identity,
  isIdentity,
  splice as spliceDelta,
  transform,
  type Delta,
} from "./delta";
import { DEFAULT_DMP, diff, merge, type DmpSettings } from "./dmp";
import { SyncError } from "./errors";
import { hashEquals, hashText } from "./hash";
import { Text } from "./text";
import {
  decodeServer,
  DEFAULT_LIMITS,
  encodeMessage,
  type ClientMessage,
  type Limits,
  type Reply,
  type Resync,
} from "./wire";

/** What a received message did, for the editor and the user. */
export type ClientEvent =
  /** Server edits changed the text: `delta` applies to the text as it was just before. */
  | { type: "remoteChange"; delta: Delta }
  /** A Resync replaced the text (local edits merged onto the server's). */
  | { type: "resynced"; text: string }
  /** The server could not apply local edit `n`; `dropped` is the text it lost. */
  | { type: "failure"; n: number; dropped: string }
  /** A resync merge could not place these local hunks; their text is lost. */
  | { type: "lostLocalEdits"; dropped: string[] }
  /** Something did not match; the next message is a ResyncRequest. */
  | { type: "resyncRequested"; reason: string }
  /** The server refused a message. */
  | { type: "error"; code: number; message: string };

export interface ClientOptions {
  /** The text the editor starts with (replaced by the server's text at the first Resync unless edited meanwhile). */
  text?: string;
  limits?: Limits;
  dmp?: DmpSettings;
}

interface StackEntry {
  readonly n: number;
  readonly delta: Delta;
}

export class SyncClient {
  private textValue: Text;
  private shadowValue: Text;
  /** Delta shadow → text: local edits not yet on the stack. */
  private pending: Delta;
  /** Sent but unacknowledged edits. */
  private stack: StackEntry[] = [];
  /** The shadow before the first stack entry. */
  private stackBase: Text;
  private n = 0;
  private m = 0;
  private seq = 0;
  private inFlight: { seq: number; bytes: Uint8Array; resync: boolean } | undefined;
  private synced = false;
  /** A Sync is due even without edits (after a Nudge, or to acknowledge server edits). */
  private syncDue = false;
  private readonly limits: Limits;
  private readonly dmp: DmpSettings;

  constructor(options: ClientOptions = {}) {
    this.limits = options.limits ?? DEFAULT_LIMITS;
    this.dmp = options.dmp ?? DEFAULT_DMP;
    this.textValue = Text.from(options.text ?? "");
    this.shadowValue = this.textValue;
    this.stackBase = this.textValue;
    this.pending = identity(this.textValue.length);
  }

  /** The editor's text. */
  get text(): string {
    return this.textValue.toString();
  }

  /** Length of the text in code points. */
  get length(): number {
    return this.textValue.length;
  }

  /** The text as the last agreed server state (for tests and diagnostics). */
  get shadow(): string {
    return this.shadowValue.toString();
  }

  get isSynced(): boolean {
    return this.synced;
  }

  /** True when a message awaits its reply. */
  get isInFlight(): boolean {
    return this.inFlight !== undefined;
  }

  /** True when local edits have not been acknowledged yet. */
  get hasUnsentEdits(): boolean {
    return this.stack.length > 0 || !isIdentity(this.pending);
  }

  /** The versions (next client version, server versions applied). */
  get versions(): { n: number; m: number } {
    return { n: this.n, m: this.m };
  }

  /** Replaces `del` code points at `pos` with `ins`. */
  splice(pos: number, del: number, ins: string): void {
    const delta = spliceDelta(this.textValue.length, pos, del, ins);
    this.applyLocal(delta);
  }

  /** Replaces the whole text by `next`, as the editor's diff of it (for editors that hand over whole texts). */
  replaceText(next: string): void {
    const current = this.textValue.toString();
    if (current === next) return;
    this.applyLocal(diff(current, next, this.dmp));
  }

  private applyLocal(delta: Delta): void {
    const next = this.textValue.apply(delta);
    if (next.utf8Length > this.limits.maxDocumentBytes) {
      throw new SyncError("DocumentTooLarge", `${next.utf8Length} bytes, the limit is ${this.limits.maxDocumentBytes}`);
    }
    this.textValue = next;
    this.pending = compose(this.pending, delta);
  }

  /** Asks for a Sync even without local edits (the caller does this after a Nudge it saw, or on a timer). */
  poll(): void {
    this.syncDue = true;
  }

  /** True when `send()` would return a message. */
  get wantsToSend(): boolean {
    return this.inFlight === undefined && (!this.synced || this.syncDue || this.hasUnsentEdits);
  }

  /**
   * The next message, if nothing is in flight and there is something to say: a ResyncRequest until synced, else a
   * Sync carrying every unacknowledged edit.
   */
  send(): Uint8Array | undefined {
    if (this.inFlight !== undefined) return undefined;
    if (!this.synced) {
      return this.transmit({ type: "ResyncRequest", seq: this.seq + 1 }, true);
    }
    if (!isIdentity(this.pending)) {
      this.stack.push({ n: this.n, delta: this.pending });
      this.n += 1;
      this.shadowValue = this.shadowValue.apply(this.pending);
      this.pending = identity(this.shadowValue.length);
    } else if (!this.syncDue && this.stack.length === 0) {
      return undefined;
    }
    this.syncDue = false;
    return this.transmit(
      {
        type: "Sync",
        seq: this.seq + 1,
        mAck: this.m,
        nFirst: this.stack[0]?.n ?? this.n,
        edits: this.stack.map((entry) => entry.delta),
        hash: this.shadowValue.hash(),
      },
      false,
    );
  }

  private transmit(message: ClientMessage, resync: boolean): Uint8Array {
    this.seq = message.seq;
    const bytes = encodeMessage(message);
    this.inFlight = { seq: message.seq, bytes, resync };
    return bytes;
  }

  /** The message in flight again, same seq, after a timeout. */
  retransmit(): Uint8Array | undefined {
    return this.inFlight?.bytes;
  }

  /** Forgets the message in flight (the connection was lost); the next `send()` starts afresh with a new seq. */
  connectionLost(): void {
    this.inFlight = undefined;
  }

  /** Handles one server message. Malformed bytes throw a `SyncError` and change nothing. */
  receive(bytes: Uint8Array): ClientEvent[] {
    const message = decodeServer(bytes, this.limits);
    switch (message.type) {
      case "Nudge":
        if (this.inFlight === undefined) this.syncDue = true;
        return [];
      case "Error":
        return [{ type: "error", code: message.code, message: message.message }];
      case "Reply":
        return this.onReply(message);
      case "Resync":
        return this.onResync(message);
    }
  }

  private requestResync(events: ClientEvent[], reason: string): void {
    this.synced = false;
    events.push({ type: "resyncRequested", reason });
  }

  /** Drops stack entries below version `below`, folding them into the stack base. */
  private dropStack(below: number): void {
    while (this.stack.length > 0 && this.stack[0]!.n < below) {
      this.stackBase = this.stackBase.apply(this.stack.shift()!.delta);
    }
  }

  private onReply(reply: Reply): ClientEvent[] {
    // A reply to anything but the Sync in flight is stale or duplicated.
    if (this.inFlight === undefined || this.inFlight.resync || reply.seq !== this.inFlight.seq) return [];
    this.inFlight = undefined;
    const events: ClientEvent[] = [];
    this.dropStack(reply.nAck);
    if (reply.nAck !== this.n) {
      this.requestResync(events, `server acknowledged up to ${reply.nAck}, sent up to ${this.n}`);
    } else {
      let applied = 0;
      let consistent = true;
      for (let i = 0; i < reply.edits.length; i++) {
        const version = reply.mFirst + i;
        const delta = reply.edits[i]!;
        if (version < this.m) continue;
        if (version > this.m) {
          this.requestResync(events, `server edit ${version} skips past ${this.m}`);
          consistent = false;
          break;
        }
        if (baseLength(delta) !== this.shadowValue.length) {
          this.requestResync(events, `server edit ${version} does not fit the shadow`);
          consistent = false;
          break;
        }
        this.shadowValue = this.shadowValue.apply(delta);
        const onText = transform(delta, this.pending, true);
        this.pending = transform(this.pending, delta, false);
        this.textValue = this.textValue.apply(onText);
        this.m += 1;
        applied += 1;
        events.push({ type: "remoteChange", delta: onText });
      }
      this.stackBase = this.shadowValue;
      if (
        consistent &&
        reply.mFirst + reply.edits.length === this.m &&
        !hashEquals(this.shadowValue.hash(), reply.hash)
      ) {
        this.requestResync(events, "shadow hash mismatch");
      } else if (applied > 0) {
        this.syncDue = true; // acknowledge, so the server can drop them from its stack
      }
    }
    for (const failure of reply.failures) events.push({ type: "failure", n: failure.n, dropped: failure.dropped });
    return events;
  }

  private onResync(resync: Resync): ClientEvent[] {
    if (this.inFlight === undefined || resync.seq !== this.inFlight.seq) return [];
    this.inFlight = undefined;
    const events: ClientEvent[] = [];
    if (!hashEquals(hashText(resync.text), resync.hash)) {
      this.requestResync(events, "resync text does not match its hash");
      return events;
    }
    this.dropStack(resync.n);
    const received = Text.from(resync.text);
    if (this.stack.length === 0 && isIdentity(this.pending)) {
      this.textValue = received;
      this.pending = identity(received.length);
    } else {
      const merged = merge(this.stackBase.toString(), this.textValue.toString(), resync.text, this.dmp);
      if (merged.dropped.length > 0) events.push({ type: "lostLocalEdits", dropped: merged.dropped });
      this.textValue = Text.from(merged.text);
      this.pending = diff(resync.text, merged.text, this.dmp);
    }
    this.shadowValue = received;
    this.stackBase = received;
    this.stack = [];
    this.n = resync.n;
    this.m = resync.m;
    this.synced = true;
    this.syncDue = false;
    events.push({ type: "resynced", text: this.textValue.toString() });
    return events;
  }
}
