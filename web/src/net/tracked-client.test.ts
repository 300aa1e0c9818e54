/**
 * Saving and restoring a sync client across page reloads, against the real server engine: nothing typed is lost and
 * nothing is applied twice, whatever was in flight when the page went away.
 */
import { describe, expect, it } from "vitest";
import { ServerDocument, SyncClient, cpLength } from "../sync";
import { Rng } from "../sync/test-util";
import { newClientId, TrackedClient, type SavedClient } from "./tracked-client";

const A = 1;
const B = 2;

/** Positions (code points) between tokens: tokens are `<...>`, so a new one never lands inside another. */
function boundaries(text: string): number[] {
  const positions = [0];
  let cp = 0;
  for (const char of text) {
    cp += 1;
    if (char === ">") positions.push(cp);
  }
  return positions;
}

function typeToken(client: SyncClient, rng: Rng, token: string): void {
  client.splice(rng.pick(boundaries(client.text)), 0, token);
}

function occurrences(text: string, token: string): number {
  return text.split(token).length - 1;
}

/** A reload: the saved record goes through JSON (as localStorage keeps it) and a new page restores it. */
function reload(tracked: TrackedClient): TrackedClient {
  const saved = JSON.parse(JSON.stringify(tracked.save())) as SavedClient;
  return TrackedClient.restore(saved);
}

class World {
  readonly server: ServerDocument;
  a: TrackedClient;
  readonly b = new SyncClient();
  /** Replies on their way to A's current page (a reload loses them). */
  toA: Uint8Array[] = [];
  now = 0;

  constructor(text = "") {
    this.server = new ServerDocument(text);
    this.a = TrackedClient.fresh(A);
  }

  sendA(loseRequest: boolean, loseReply: boolean): void {
    const bytes = this.a.pollBytes() ?? (this.a.client.isInFlight ? this.a.client.retransmit() : undefined);
    if (bytes === undefined || loseRequest) return;
    for (const out of this.server.receive(A, bytes, this.now++)) {
      if (out.to === A && !loseReply) this.toA.push(out.bytes);
      if (out.to === B) this.b.receive(out.bytes);
    }
  }

  deliverA(): void {
    for (const bytes of this.toA.splice(0)) this.a.receive(bytes);
  }

  cycleB(): void {
    const bytes = this.b.poll();
    if (bytes === undefined) return;
    for (const out of this.server.receive(B, bytes, this.now++)) {
      if (out.to === B) this.b.receive(out.bytes);
      if (out.to === A) this.toA.push(out.bytes);
    }
  }

  settle(): void {
    for (let round = 0; round < 50; round++) {
      this.deliverA();
      if (this.a.client.isInFlight) this.a.client.resetInFlight(); // its reply is gone: send afresh
      this.a.client.requestSync();
      this.sendA(false, false);
      this.deliverA();
      this.b.requestSync();
      this.cycleB();
      if (!this.a.client.hasUnacknowledged && !this.b.hasUnacknowledged && this.a.client.text === this.server.text && this.b.text === this.server.text) {
        return;
      }
    }
    throw new Error("did not settle");
  }
}

describe("TrackedClient", () => {
  it("chooses client ids below 2^53, never 0", () => {
    expect(newClientId(() => 0)).toBe(1);
    const id = newClientId(() => 0.999999999);
    expect(Number.isSafeInteger(id)).toBe(true);
    expect(id).toBeGreaterThan(2 ** 50);
  });

  it("saves only its id and sequence number when everything is acknowledged", () => {
    const world = new World("hello");
    world.sendA(false, false);
    world.deliverA();
    expect(world.a.client.text).toBe("hello");
    expect(world.a.save()).toEqual({ format: 1, client: A, seq: 1 });
  });

  it("resumes edits whose message reached the server but whose reply was lost, without applying them twice", () => {
    const world = new World("base ");
    world.sendA(false, false);
    world.deliverA();
    world.a.client.splice(5, 0, "<one>");
    world.sendA(false, true); // the server applied it; the reply is lost with the page
    world.a.client.splice(0, 0, "<two>"); // typed, never sent
    world.a = reload(world.a);
    expect(world.a.client.text).toBe("<two>base <one>");
    world.settle();
    expect(world.server.text).toBe("<two>base <one>");
    expect(world.a.client.text).toBe(world.server.text);
  });

  it("resumes edits whose message never reached the server", () => {
    const world = new World("x");
    world.sendA(false, false);
    world.deliverA();
    world.a.client.splice(1, 0, "<lost>");
    world.sendA(true, false);
    world.a = reload(world.a);
    world.settle();
    expect(world.server.text).toBe("x<lost>");
  });

  it("merges saved edits onto text others changed meanwhile", () => {
    const world = new World("middle");
    world.sendA(false, false);
    world.deliverA();
    world.cycleB();
    world.a.client.splice(6, 0, "<end>");
    world.sendA(true, false);
    world.b.splice(0, 0, "<start>");
    world.cycleB();
    world.a = reload(world.a);
    world.settle();
    expect(world.server.text).toBe("<start>middle<end>");
    expect(world.b.text).toBe(world.server.text);
  });

  it("continues above the old page's sequence numbers, so the server does not ignore it", () => {
    const world = new World("");
    for (let index = 0; index < 30; index++) {
      world.a.client.splice(0, 0, `<${index}>`);
      world.sendA(false, false);
      world.deliverA();
    }
    const before = world.a.sequence;
    world.a = reload(world.a);
    expect(world.a.sequence).toBe(before);
    world.settle();
    world.a.client.splice(0, 0, "<after>");
    world.settle();
    expect(world.server.text.slice(0, 19)).toBe("<after><29><28><27>");
  });

  it("starts afresh from a record it cannot use", () => {
    const broken: SavedClient = {
      format: 1,
      client: 5,
      seq: 3,
      unacknowledged: { base: "ab", baseN: 0, stack: [[["r", 10]]], text: "ab" },
    };
    expect(() => TrackedClient.restore(broken)).toThrow();
  });

  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`keeps every token exactly once through loss and reloads (seed ${seed})`, () => {
      const rng = new Rng(seed);
      const world = new World("");
      const tokens: string[] = [];
      for (let step = 0; step < 250; step++) {
        const action = rng.int(10);
        if (action < 3) {
          const token = `<a${step}>`;
          tokens.push(token);
          typeToken(world.a.client, rng, token);
        } else if (action < 5) {
          const token = `<b${step}>`;
          tokens.push(token);
          typeToken(world.b, rng, token);
        } else if (action < 7) {
          world.sendA(rng.chance(0.2), rng.chance(0.3));
          if (rng.chance(0.7)) world.deliverA();
        } else if (action < 8) {
          world.cycleB();
        } else if (action < 9) {
          // A reload: replies on their way to the old page are lost.
          world.toA = [];
          world.a = reload(world.a);
        } else if (world.a.client.isInFlight && rng.chance(0.5)) {
          // A reconnect without a reload: the message in flight is sent again with the same sequence number.
          world.sendA(false, rng.chance(0.3));
        }
        expect(cpLength(world.a.client.text)).toBe(world.a.client.length);
      }
      world.settle();
      expect(world.a.client.text).toBe(world.server.text);
      expect(world.b.text).toBe(world.server.text);
      for (const token of tokens) expect(occurrences(world.server.text, token), token).toBe(1);
    });
  }
});
