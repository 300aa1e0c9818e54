/** Client and server together, message by message: first contact, loss, duplication, conflicts, restarts. */
import { describe, expect, test } from "vitest";

import { SyncClient, type ClientEvent } from "./client";
import { applyToString, splice } from "./delta";
import { isSyncError } from "./errors";
import { hashText } from "./hash";
import { ServerDocument } from "./server";
import { fromHex } from "./test-util";
import { cpLength } from "./unicode";
import { decodeClient, decodeServer, DEFAULT_LIMITS, encodeMessage } from "./wire";

/** A client wired to a server by hand: every message is handed over explicitly, so tests can drop or repeat it. */
class Harness {
  readonly clients = new Map<number, SyncClient>();
  readonly events = new Map<number, ClientEvent[]>();
  now = 1_000;

  constructor(readonly server: ServerDocument) {}

  add(id: number): SyncClient {
    const client = new SyncClient();
    this.clients.set(id, client);
    this.events.set(id, []);
    return client;
  }

  /** Sends bytes from `id` to the server and returns what the server wants to send (not yet delivered). */
  toServer(id: number, bytes: Uint8Array) {
    return this.server.receive(id, bytes, this.now++);
  }

  deliver(outgoing: { to: number; bytes: Uint8Array }[]): void {
    for (const out of outgoing) this.events.get(out.to)!.push(...this.clients.get(out.to)!.receive(out.bytes));
  }

  /** Polls `id` and runs the full round trip, delivering everything. Returns false when the client had nothing to send. */
  cycle(id: number): boolean {
    const bytes = this.clients.get(id)!.poll();
    if (bytes === undefined) return false;
    this.deliver(this.toServer(id, bytes));
    return true;
  }

  /** Cycles every client until nobody has anything to send. */
  settle(): void {
    for (let round = 0; round < 20; round++) {
      let any = false;
      for (const id of this.clients.keys()) any = this.cycle(id) || any;
      if (!any) return;
    }
    throw new Error("did not settle");
  }
}

function connected(text: string, ...ids: number[]): Harness {
  const harness = new Harness(new ServerDocument(text));
  for (const id of ids) harness.add(id);
  harness.settle();
  return harness;
}

describe("first contact", () => {
  test("a new client asks for the whole text and gets it", () => {
    const server = new ServerDocument("hello 🍊\r\n");
    const client = new SyncClient();
    expect(client.isSynced).toBe(false);
    const request = client.poll()!;
    expect(decodeClient(request)).toEqual({ type: "ResyncRequest", seq: 1 });
    expect(client.poll()).toBeUndefined(); // one message in flight
    const [reply] = server.receive(7, request, 0);
    expect(decodeServer(reply!.bytes)).toEqual({
      type: "Resync",
      seq: 1,
      n: 0,
      m: 0,
      text: "hello 🍊\r\n",
      hash: hashText("hello 🍊\r\n"),
    });
    expect(client.receive(reply!.bytes)).toEqual([{ type: "changed", delta: [{ kind: "insert", text: "hello 🍊\r\n", n: 9 }] }]);
    expect(client.isSynced).toBe(true);
    expect(client.text).toBe("hello 🍊\r\n");
    expect(client.poll()).toBeUndefined(); // nothing to say
  });

  test("edits made before the first Resync are merged onto the server's text (typed at the start, they stay there)", () => {
    const harness = new Harness(new ServerDocument("server text"));
    const client = harness.add(1);
    client.splice(0, 0, "local ");
    harness.settle();
    expect(harness.server.text).toBe("local server text");
    expect(client.text).toBe("local server text");
  });
});

describe("normal operation", () => {
  test("an edit travels as one Sync, is acknowledged, and takes the fast path", () => {
    const harness = connected("abc", 1);
    const client = harness.clients.get(1)!;
    client.splice(1, 1, "🌊");
    const sync = decodeClient(client.poll()!);
    expect(sync).toEqual({
      type: "Sync",
      seq: 2,
      mAck: 0,
      nFirst: 0,
      edits: [splice(3, 1, 1, "🌊")],
      hash: hashText("a🌊c"),
    });
    const [reply] = harness.toServer(1, encodeMessage(sync));
    expect(decodeServer(reply!.bytes)).toEqual({
      type: "Reply",
      seq: 2,
      nAck: 1,
      mFirst: 0,
      edits: [],
      hash: hashText("a🌊c"),
      failures: [],
    });
    expect(client.receive(reply!.bytes)).toEqual([]);
    expect(client.hasUnacknowledged).toBe(false);
    expect(harness.server.text).toBe("a🌊c");
    expect(harness.server.stats.fastPath).toBe(1);
    expect(harness.server.stats.transformed).toBe(0);
  });

  test("keystrokes typed while a message is in flight go out together in the next one", () => {
    const harness = connected("", 1);
    const client = harness.clients.get(1)!;
    client.splice(0, 0, "a");
    const first = client.poll()!;
    client.splice(1, 0, "b");
    client.splice(2, 0, "c");
    expect(client.poll()).toBeUndefined();
    harness.deliver(harness.toServer(1, first));
    const second = decodeClient(client.poll()!);
    expect(second.type === "Sync" && second.edits).toEqual([splice(1, 1, 0, "bc")]);
    harness.deliver(harness.toServer(1, encodeMessage(second)));
    expect(harness.server.text).toBe("abc");
  });

  test("a change by one client reaches the other through a Nudge", () => {
    const harness = connected("shared", 1, 2);
    harness.clients.get(1)!.splice(6, 0, "!");
    const bytes = harness.clients.get(1)!.poll()!;
    const out = harness.toServer(1, bytes);
    expect(out.map((o) => [o.to, decodeServer(o.bytes).type])).toEqual([
      [1, "Reply"],
      [2, "Nudge"],
    ]);
    harness.deliver(out);
    expect(harness.clients.get(2)!.text).toBe("shared"); // not yet
    expect(harness.cycle(2)).toBe(true); // the Nudge made it poll
    expect(harness.clients.get(2)!.text).toBe("shared!");
    expect(harness.events.get(2)).toContainEqual({ type: "changed", delta: splice(6, 6, 0, "!") });
  });
});

describe("loss and duplication", () => {
  test("a lost Sync is retransmitted with the same seq and applied once", () => {
    const harness = connected("x", 1);
    const client = harness.clients.get(1)!;
    client.splice(1, 0, "y");
    const lost = client.poll()!;
    const again = client.retransmit()!;
    expect(again).toEqual(lost);
    harness.deliver(harness.toServer(1, again));
    expect(harness.server.text).toBe("xy");
    expect(client.isInFlight).toBe(false);
  });

  test("a lost Reply: the retransmission is not applied twice and the client catches up", () => {
    const harness = connected("base", 1, 2);
    const [one, two] = [harness.clients.get(1)!, harness.clients.get(2)!];
    two.splice(0, 0, ">");
    harness.cycle(2);
    one.splice(4, 0, "!");
    const sync = one.poll()!;
    const [lostReply, ...nudges] = harness.toServer(1, sync); // the reply (carrying ">") is lost
    expect(decodeServer(lostReply!.bytes).type).toBe("Reply");
    harness.deliver(nudges);
    expect(harness.server.text).toBe(">base!");
    harness.deliver(harness.toServer(1, one.retransmit()!));
    expect(harness.server.text).toBe(">base!");
    expect(one.text).toBe(">base!");
    harness.settle();
    expect(two.text).toBe(">base!");
  });

  test("a duplicated Sync gets a second Reply, which the client ignores", () => {
    const harness = connected("", 1);
    const client = harness.clients.get(1)!;
    client.splice(0, 0, "once");
    const sync = client.poll()!;
    const first = harness.toServer(1, sync);
    const second = harness.toServer(1, sync);
    harness.deliver(first);
    harness.deliver(second);
    expect(harness.server.text).toBe("once");
    expect(client.text).toBe("once");
    expect(harness.events.get(1)).toEqual([]);
  });

  test("a stale Sync (older seq) gets no reply", () => {
    const harness = connected("a", 1);
    const client = harness.clients.get(1)!;
    client.splice(1, 0, "b");
    const old = client.poll()!;
    harness.deliver(harness.toServer(1, old));
    client.splice(2, 0, "c");
    harness.deliver(harness.toServer(1, client.poll()!));
    expect(harness.toServer(1, old)).toEqual([]);
    expect(harness.server.text).toBe("abc");
  });
});

describe("conflicts", () => {
  test("concurrent edits in different places both land (transformed) and everyone converges", () => {
    const text = "The quick brown fox jumps over the lazy dog.\nSecond line.\n";
    const harness = connected(text, 1, 2);
    harness.clients.get(1)!.splice(4, 5, "slow");
    harness.clients.get(2)!.splice(cpLength(text) - 6, 4, "🍊🍊");
    const a = harness.clients.get(1)!.poll()!;
    const b = harness.clients.get(2)!.poll()!;
    harness.deliver(harness.toServer(1, a));
    harness.deliver(harness.toServer(2, b));
    harness.settle();
    expect(harness.server.text).toBe("The slow brown fox jumps over the lazy dog.\nSecond 🍊🍊.\n");
    for (const client of harness.clients.values()) expect(client.text).toBe(harness.server.text);
    expect(harness.server.stats.transformed).toBe(1);
    expect(harness.server.stats.failures).toBe(0);
  });

  test("text inserted inside a range another client deleted survives", () => {
    // The case that made PROTOCOL.md drop fuzzy patching: a fuzzy delete would take the insertion with it.
    const harness = connected("keep [delete this part] keep", 1, 2);
    const [one, two] = [harness.clients.get(1)!, harness.clients.get(2)!];
    one.splice(5, 18, "");
    two.splice(12, 0, "🌊NEW🌊");
    harness.cycle(1);
    harness.cycle(2);
    harness.settle();
    expect(harness.server.text).toBe("keep 🌊NEW🌊 keep");
    expect(one.text).toBe(harness.server.text);
    expect(two.text).toBe(harness.server.text);
  });

  test("both clients inserting at one place: the later one goes right after the character it was typed after", () => {
    const harness = connected("ab", 1, 2);
    harness.clients.get(1)!.splice(1, 0, "1");
    harness.clients.get(2)!.splice(1, 0, "2");
    harness.cycle(1);
    harness.cycle(2);
    harness.settle();
    expect(harness.server.text).toBe("a21b");
    for (const client of harness.clients.values()) expect(client.text).toBe("a21b");
  });

  test("a diff finds the concurrent changes when the revision log no longer reaches back", () => {
    const server = new ServerDocument("0123456789", { limits: { ...DEFAULT_LIMITS, maxLog: 1 } });
    const harness = new Harness(server);
    const [one, two] = [harness.add(1), harness.add(2)];
    harness.settle();
    one.splice(0, 0, "A");
    harness.cycle(1);
    one.splice(11, 0, "Z");
    harness.cycle(1); // two master changes since client 2's shadow; the log keeps one
    two.splice(5, 1, "_");
    harness.cycle(2);
    harness.settle();
    expect(server.text).toBe("A01234_6789Z");
    expect(server.stats.diffed).toBe(1);
    expect(two.text).toBe(server.text);
  });

  test("an edit that would make the document too large is refused, reported and reverted on its author", () => {
    const limits = { ...DEFAULT_LIMITS, maxDocumentBytes: 12 };
    const server = new ServerDocument("0123456789", { limits });
    const harness = new Harness(server);
    harness.clients.set(1, new SyncClient({ limits: { ...DEFAULT_LIMITS } }));
    harness.events.set(1, []);
    const client = harness.clients.get(1)!;
    harness.settle();
    client.splice(10, 0, "🍊");
    harness.settle();
    expect(harness.events.get(1)).toContainEqual({ type: "failed", n: 0, dropped: "🍊" });
    expect(server.text).toBe("0123456789");
    expect(client.text).toBe("0123456789");
    expect(server.stats.failures).toBe(1);
  });
});

describe("resync", () => {
  test("a server that forgot the view answers with the whole text; applied edits are not duplicated", () => {
    const harness = connected("doc", 1);
    const client = harness.clients.get(1)!;
    client.splice(3, 0, "+1");
    harness.toServer(1, client.poll()!); // applied, reply lost
    harness.server.forgetView(1);
    client.splice(5, 0, "+2"); // typed meanwhile
    const out = harness.toServer(1, client.retransmit()!);
    expect(decodeServer(out[0]!.bytes)).toMatchObject({ type: "Resync", n: 1, text: "doc+1" });
    harness.deliver(out);
    expect(client.text).toBe("doc+1+2");
    harness.settle();
    expect(harness.server.text).toBe("doc+1+2");
  });

  test("a restarted server keeps applied versions, so a retransmission is not applied twice", () => {
    const harness = connected("", 1);
    const client = harness.clients.get(1)!;
    client.splice(0, 0, "saved");
    harness.toServer(1, client.poll()!); // applied, reply lost, then the server restarts
    const restarted = new ServerDocument(harness.server.text, { applied: harness.server.appliedVersions() });
    const out = restarted.receive(1, client.retransmit()!, 0);
    client.receive(out[0]!.bytes);
    expect(client.text).toBe("saved");
    expect(client.poll()).toBeUndefined();
    expect(restarted.text).toBe("saved");
  });

  test("a resync keeps local edits: they are transformed past what the server changed", () => {
    const base = "alpha beta gamma delta epsilon";
    const harness = connected(base, 1, 2);
    const [one, two] = [harness.clients.get(1)!, harness.clients.get(2)!];
    two.splice(11, 0, "GAMMA ");
    two.poll(); // lost
    harness.server.forgetView(2);
    one.splice(0, cpLength(base), "something else entirely");
    harness.cycle(1);
    two.resetInFlight(); // the connection dropped; start afresh
    harness.cycle(2); // a ResyncRequest: the server's text arrives, GAMMA is carried over
    expect(two.text).toContain("GAMMA");
    harness.settle();
    expect(harness.server.text).toBe(two.text);
    expect(one.text).toBe(two.text);
    expect(harness.server.text.replace("GAMMA ", "")).toBe("something else entirely");
  });

  test("a repeated message gets the reply it got the first time, not a second processing", () => {
    const harness = connected("abc", 1, 2);
    const one = harness.clients.get(1)!;
    one.splice(3, 0, "!");
    const sync = one.poll()!;
    const first = harness.toServer(1, sync);
    harness.clients.get(2)!.splice(0, 0, ">");
    harness.cycle(2); // the master changes between the two copies
    const second = harness.toServer(1, sync);
    expect(second.map((out) => out.bytes)).toEqual([first[0]!.bytes]);
  });

  test("after a resync, a late copy of the message that caused it gets the Resync again", () => {
    const harness = connected("abc", 1);
    const client = harness.clients.get(1)!;
    client.splice(0, 0, "x");
    const sync = client.poll()!;
    harness.server.forgetView(1);
    const first = harness.toServer(1, sync);
    expect(decodeServer(first[0]!.bytes).type).toBe("Resync");
    const again = harness.toServer(1, sync);
    expect(decodeServer(again[0]!.bytes)).toEqual(decodeServer(first[0]!.bytes));
    harness.deliver(first);
    harness.deliver(again); // ignored: no longer in flight
    harness.settle();
    expect(harness.server.text).toBe("xabc");
    expect(client.text).toBe("xabc");
  });

  test("a hash mismatch resyncs instead of applying the edit", () => {
    const harness = connected("abc", 1);
    const outcome = harness.server.receiveMessage(
      1,
      { type: "Sync", seq: 5, mAck: 0, nFirst: 0, edits: [splice(3, 0, 0, "X")], hash: hashText("not it") },
      0,
    );
    expect(outcome.resync).toBe("HashMismatch");
    expect(outcome.reply).toMatchObject({ type: "Resync", seq: 5, text: "abc" });
    expect(harness.server.text).toBe("abc");
  });

  test("a version gap or a delta of the wrong length resyncs", () => {
    const harness = connected("abc", 1);
    const gap = harness.server.receiveMessage(
      1,
      { type: "Sync", seq: 5, mAck: 0, nFirst: 3, edits: [splice(3, 0, 0, "X")], hash: hashText("Xabc") },
      0,
    );
    expect(gap.resync).toBe("VersionGap");
    const bad = harness.server.receiveMessage(
      1,
      { type: "Sync", seq: 6, mAck: 0, nFirst: 0, edits: [splice(4, 0, 0, "X")], hash: hashText("Xabc?") },
      0,
    );
    expect(bad.resync).toBe("BadDelta");
    expect(harness.server.text).toBe("abc");
  });

  test("a reply whose hash does not match the shadow makes the client ask for a resync", () => {
    const harness = connected("abc", 1);
    const client = harness.clients.get(1)!;
    client.splice(0, 0, "1");
    const sync = decodeClient(client.poll()!);
    const events = client.receiveMessage({
      type: "Reply",
      seq: sync.seq,
      nAck: 1,
      mFirst: 0,
      edits: [],
      hash: hashText("something else"),
      failures: [],
    });
    expect(events).toEqual([{ type: "resyncNeeded", reason: "shadow hash mismatch" }]);
    expect(decodeClient(client.poll()!).type).toBe("ResyncRequest");
    harness.deliver(harness.toServer(1, client.retransmit()!));
    expect(client.text).toBe("1abc");
  });
});

describe("bad input", () => {
  test("garbage sent to the server gets an Error message and changes nothing", () => {
    const harness = connected("abc", 1);
    harness.events.set(1, []);
    const out = harness.toServer(1, fromHex("0201"));
    expect(decodeServer(out[0]!.bytes)).toEqual({ type: "Error", code: 8, message: "message truncated" });
    harness.deliver(out);
    expect(harness.events.get(1)).toEqual([{ type: "serverError", code: 8, message: "message truncated" }]);
    expect(harness.server.text).toBe("abc");
    harness.settle(); // the client resyncs
    expect(harness.clients.get(1)!.isSynced).toBe(true);
  });

  test("garbage sent to the client throws a typed error and changes nothing", () => {
    const harness = connected("abc", 1);
    const client = harness.clients.get(1)!;
    for (const hex of ["", "ff", "81", "8201", "82010000036162"]) {
      try {
        client.receive(fromHex(hex));
        expect.unreachable(hex);
      } catch (error) {
        expect(isSyncError(error)).toBe(true);
      }
    }
    expect(client.text).toBe("abc");
  });

  test("edits outside the text are refused without changing it", () => {
    const client = connected("abc", 1).clients.get(1)!;
    expect(() => client.splice(2, 2, "")).toThrow(expect.objectContaining({ kind: "OutOfRange" }));
    expect(() => client.edit([{ kind: "retain", n: 2 }])).toThrow(expect.objectContaining({ kind: "LengthMismatch" }));
    expect(client.text).toBe("abc");
    expect(client.hasUnacknowledged).toBe(false);
  });
});

describe("history and disk edits", () => {
  test("every change to the master is in the history, and replaying it gives the master", () => {
    const harness = connected("start", 1, 2);
    harness.clients.get(1)!.splice(0, 0, "A");
    harness.clients.get(2)!.splice(5, 0, "B");
    const a = harness.clients.get(1)!.poll()!;
    const b = harness.clients.get(2)!.poll()!;
    const history = [
      ...harness.server.receiveMessage(1, decodeClient(a), 10).history,
      ...harness.server.receiveMessage(2, decodeClient(b), 20).history,
    ];
    const disk = harness.server.replaceText("start over", { kind: "disk" }, 30);
    history.push(...disk.history);
    // Client 1 was nudged by client 2's edit and has not synced since: one Nudge is enough.
    expect(disk.nudge).toEqual([2]);
    let replayed = "start";
    for (const entry of history) replayed = applyToString(entry.delta, replayed);
    expect(replayed).toBe(harness.server.text);
    expect(history.map((entry) => entry.author.kind)).toEqual(["client", "client", "disk"]);
  });
});
