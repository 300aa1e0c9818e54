import { describe, expect, test } from "vitest";

import { insert, remove, retain, splice } from "./delta";
import { isSyncError, type SyncErrorKind } from "./errors";
import { hashText } from "./hash";
import { fromHex, toHex } from "./test-util";
import {
  decodeClient,
  decodeMessage,
  decodeServer,
  DEFAULT_LIMITS,
  encodeMessage,
  messageFromJson,
  messageToJson,
  type Message,
} from "./wire";

function kindOf(work: () => unknown): SyncErrorKind | "none" {
  try {
    work();
    return "none";
  } catch (error) {
    if (isSyncError(error)) return error.kind;
    throw error;
  }
}

const HASH = { h1: 0x01234567, h2: 0x09abcdef };

const MESSAGES: Message[] = [
  { type: "ResyncRequest", seq: 1 },
  { type: "Sync", seq: 3, mAck: 2, nFirst: 7, edits: [splice(5, 2, 0, "é")], hash: HASH },
  { type: "Sync", seq: 4, mAck: 0, nFirst: 0, edits: [], hash: { h1: 0, h2: 0 } },
  {
    type: "Reply",
    seq: 3,
    nAck: 8,
    mFirst: 2,
    edits: [[retain(1), remove(1), insert("🍊")], []],
    hash: { h1: 42, h2: 7 },
    failures: [{ n: 7, dropped: "lost 🍊" }],
  },
  { type: "Resync", seq: 9, n: 2 ** 40, m: 5, text: "a\r\n🌊", hash: hashText("a\r\n🌊") },
  { type: "Nudge" },
  { type: "Error", code: 7, message: "document too large" },
];

describe("messages", () => {
  test("round trip through bytes and JSON", () => {
    for (const message of MESSAGES) {
      const bytes = encodeMessage(message);
      expect(decodeMessage(bytes)).toEqual(message);
      expect(messageFromJson(JSON.parse(JSON.stringify(messageToJson(message))))).toEqual(message);
    }
  });

  test("have the documented layout", () => {
    expect(toHex(encodeMessage({ type: "ResyncRequest", seq: 300 }))).toBe("01ac02");
    expect(toHex(encodeMessage({ type: "Nudge" }))).toBe("83");
    // Sync: seq 1, m_ack 2, n_first 3, one delta [Retain(1), Insert("x")] of 3 bytes, hash.
    expect(toHex(encodeMessage({ type: "Sync", seq: 1, mAck: 2, nFirst: 3, edits: [[retain(1), insert("x")]], hash: HASH }))).toBe(
      "02010203" + "01" + "03" + "040678" + "efcdab0967452301",
    );
    expect(toHex(encodeMessage({ type: "Error", code: 5, message: "é" }))).toBe("840502c3a9");
    expect(messageToJson(MESSAGES[1]!)).toEqual({
      type: "Sync",
      seq: 3,
      m_ack: 2,
      n_first: 7,
      edits: [
        [
          ["r", 2],
          ["i", "é"],
          ["r", 3],
        ],
      ],
      hash: "0123456709abcdef",
    });
  });

  test("a one-character edit costs at most 64 bytes on the wire", () => {
    const bytes = encodeMessage({
      type: "Sync",
      seq: 123456,
      mAck: 98765,
      nFirst: 54321,
      edits: [splice(100_000, 50_000, 0, "x")],
      hash: hashText("whatever"),
    });
    expect(bytes.length).toBeLessThanOrEqual(64);
  });

  test("garbage is a typed error, never a crash", () => {
    const cases: [string, SyncErrorKind, "client" | "server"][] = [
      ["", "Truncated", "client"],
      ["7f", "UnknownMessage", "client"],
      ["81", "UnknownMessage", "client"],
      ["010500", "TrailingBytes", "client"],
      ["01", "Truncated", "client"],
      ["018000", "BadVarint", "client"],
      ["0201020301", "Truncated", "client"], // one delta announced (the count byte itself bounds it), no prefix
      ["0201020302", "Truncated", "client"], // two deltas announced, fewer bytes left than that
      ["020102030105", "Truncated", "client"], // delta length 5 > remaining 0
      ["02010203010103", "BadOp", "client"],
      ["020102030000", "Truncated", "client"], // no hash
      ["0201020300efcdab096745230100", "TrailingBytes", "client"],
      ["02010203010204040000000000000000", "NonCanonical", "client"],
      ["81010101ffff03", "Truncated", "server"],
      ["8201020303616263", "Truncated", "server"],
      ["82010203036162ff0000000000000000", "BadUtf8", "server"],
      ["840102", "Truncated", "server"],
      ["84", "Truncated", "server"],
      ["02", "UnknownMessage", "server"],
      ["85", "UnknownMessage", "server"],
      ["8300", "TrailingBytes", "server"],
    ];
    for (const [hex, kind, side] of cases) {
      const decode = side === "client" ? decodeClient : decodeServer;
      expect([hex, kindOf(() => decode(fromHex(hex)))]).toEqual([hex, kind]);
    }
  });

  test("limits: message size and document size", () => {
    const small = { ...DEFAULT_LIMITS, maxMessageBytes: 4, maxDocumentBytes: 2 };
    expect(kindOf(() => decodeClient(fromHex("0201020300"), small))).toBe("MessageTooLarge");
    expect(kindOf(() => decodeServer(fromHex("82010203"), small))).toBe("Truncated");
    const resync = encodeMessage({ type: "Resync", seq: 1, n: 0, m: 0, text: "abc", hash: hashText("abc") });
    expect(kindOf(() => decodeServer(resync, { ...DEFAULT_LIMITS, maxDocumentBytes: 2 }))).toBe("DocumentTooLarge");
    const sync = encodeMessage({ type: "Sync", seq: 1, mAck: 0, nFirst: 0, edits: [[insert("abc")]], hash: HASH });
    expect(kindOf(() => decodeClient(sync, { ...DEFAULT_LIMITS, maxDocumentBytes: 2 }))).toBe("DocumentTooLarge");
  });
});
