/**
 * A `SyncClient` whose unacknowledged state can be saved and restored, so that nothing typed is lost across a page
 * reload or a closed tab.
 *
 * The sync engine keeps that state private, and the engine is not ours to change, so this wrapper follows it from the
 * outside: every message the client sends lists its whole edit stack (`edits`, from `nFirst`), and whenever a reply
 * takes the message in flight away while the client stays synced, the stack was acknowledged and the shadow is the new
 * base. That is enough to rebuild an equivalent client later by replaying those steps through the public API.
 *
 * A restored client starts unsynced, so its first message is a ResyncRequest under a sequence number above every one
 * the old page sent; the server's Resync says which of the saved edits it already applied (PROTOCOL.md §4), and the
 * client merges the rest onto the server's text. Nothing is applied twice and nothing is dropped.
 */

import {
  deltaFromJson,
  deltaToJson,
  hashText,
  SyncClient,
  type ClientEvent,
  type ClientMessage,
  type Delta,
  type JsonOp,
} from "../sync";

/** What survives a reload. */
export interface SavedClient {
  /** The format of this record. */
  format: 1;
  /** The sync client id the server knows this editor by. */
  client: number;
  /** The last sequence number sent: the restored client continues above it. */
  seq: number;
  /** Present while the server has not acknowledged every edit. */
  unacknowledged?: {
    /** The text the saved edit stack starts from (the client's shadow when its stack was last empty). */
    base: string;
    /** The client version of the first stack entry. */
    baseN: number;
    /** Sent, unacknowledged edits, in order. */
    stack: JsonOp[][];
    /** The editor's text, with edits not sent yet. */
    text: string;
  };
}

/** A sync client id: a random integer below 2^53, chosen once per editor. */
export function newClientId(random: () => number = Math.random): number {
  // 53 random bits from two draws, never 0.
  const high = Math.floor(random() * 2 ** 21);
  const low = Math.floor(random() * 2 ** 32);
  return high * 2 ** 32 + low || 1;
}

export class TrackedClient {
  readonly client: SyncClient;
  private seq = 0;
  private base = "";
  private baseN = 0;
  private stack: readonly Delta[] = [];

  private constructor(readonly clientId: number) {
    this.client = new SyncClient();
  }

  /** A client that has never seen the document. */
  static fresh(clientId: number): TrackedClient {
    return new TrackedClient(clientId);
  }

  /** Rebuilds a saved client. The result is unsynced: its first message asks the server where the view stands. */
  static restore(saved: SavedClient): TrackedClient {
    const tracked = new TrackedClient(saved.client);
    const client = tracked.client;
    const unacked = saved.unacknowledged;
    const stack = unacked?.stack.map((json) => deltaFromJson(json)) ?? [];
    // Spend sequence numbers with requests that are never sent, so the next real one is above the old page's.
    const baseSeq = Math.max(1, saved.seq - stack.length);
    while (tracked.seq < baseSeq - (unacked === undefined ? 0 : 1)) {
      tracked.poll();
      client.resetInFlight();
    }
    if (unacked !== undefined) {
      // The base as if the server had sent it, then the stack as if it had been sent again, then the unsent rest.
      const request = tracked.poll();
      if (request !== undefined) {
        tracked.receiveMessage({ type: "Resync", seq: request.seq, n: unacked.baseN, m: 0, text: unacked.base, hash: hashText(unacked.base) });
      }
      for (const delta of stack) {
        client.edit(delta);
        tracked.poll();
        client.resetInFlight();
      }
      client.replaceText(unacked.text);
    }
    // As if the server had refused a message: the client forgets it was synced and resyncs first.
    client.receiveMessage({ type: "Error", code: 0, message: "restored after a reload" });
    return tracked;
  }

  /** The message to send now, if any (see `SyncClient.pollMessage`). */
  poll(): ClientMessage | undefined {
    const message = this.client.pollMessage();
    if (message === undefined) return undefined;
    this.seq = message.seq;
    if (message.type === "Sync") {
      this.stack = message.edits;
      this.baseN = message.nFirst;
    }
    return message;
  }

  /** `poll()`, encoded: the bytes to send now, if any. */
  pollBytes(): Uint8Array | undefined {
    return this.poll() === undefined ? undefined : this.client.retransmit();
  }

  /** Handles a server message in its binary form (see `SyncClient.receive`). */
  receive(bytes: Uint8Array): ClientEvent[] {
    return this.observe(() => this.client.receive(bytes));
  }

  receiveMessage(message: Parameters<SyncClient["receiveMessage"]>[0]): ClientEvent[] {
    return this.observe(() => this.client.receiveMessage(message));
  }

  private observe(step: () => ClientEvent[]): ClientEvent[] {
    const wasInFlight = this.client.isInFlight;
    const events = step();
    // The reply settled the message in flight and the client is synced: its stack is empty and its shadow is the base.
    if (wasInFlight && !this.client.isInFlight && this.client.isSynced) {
      this.stack = [];
      this.base = this.client.shadow;
      this.baseN = this.client.version;
    }
    return events;
  }

  /** The state to save now. */
  save(): SavedClient {
    const saved: SavedClient = { format: 1, client: this.clientId, seq: this.seq };
    if (this.client.hasUnacknowledged || this.stack.length > 0) {
      saved.unacknowledged = {
        base: this.base,
        baseN: this.baseN,
        stack: this.stack.map((delta) => deltaToJson(delta)),
        text: this.client.text,
      };
    }
    return saved;
  }

  /** The last sequence number used. */
  get sequence(): number {
    return this.seq;
  }
}
