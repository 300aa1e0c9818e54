import { describe, expect, test } from "vitest";

import { isSyncError, type SyncErrorKind } from "./errors";
import { fromHex, toHex } from "./test-util";
import { ByteWriter, MAX_VARINT, Reader, utf8Decode } from "./varint";

function encode(value: number): string {
  const out = new ByteWriter();
  out.varint(value);
  return toHex(out.finish());
}

function decode(hex: string): number {
  const reader = new Reader(fromHex(hex));
  const value = reader.varint();
  reader.finish();
  return value;
}

function kindOf(work: () => unknown): SyncErrorKind | "none" {
  try {
    work();
    return "none";
  } catch (error) {
    if (isSyncError(error)) return error.kind;
    throw error;
  }
}

describe("varint", () => {
  test("unsigned LEB128", () => {
    expect(encode(0)).toBe("00");
    expect(encode(1)).toBe("01");
    expect(encode(127)).toBe("7f");
    expect(encode(128)).toBe("8001");
    expect(encode(300)).toBe("ac02");
    expect(encode(2 ** 31)).toBe("8080808008");
    expect(encode(MAX_VARINT)).toBe("ffffffffffffff0f");
  });

  test("round trips across the whole range", () => {
    const values = [0, 1, 127, 128, 255, 256, 16383, 16384, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 32 + 1, 2 ** 49, MAX_VARINT];
    for (let shift = 0; shift < 53; shift++) values.push(2 ** shift, 2 ** shift - 1, 2 ** shift + 1);
    for (const value of values) if (value <= MAX_VARINT) expect(decode(encode(value))).toBe(value);
  });

  test("refuses to encode what no decoder accepts", () => {
    expect(() => encode(2 ** 53)).toThrow(RangeError);
    expect(() => encode(-1)).toThrow(RangeError);
    expect(() => encode(1.5)).toThrow(RangeError);
  });

  test("rejects overlong, too long, too large and truncated encodings", () => {
    expect(kindOf(() => decode("8000"))).toBe("BadVarint"); // overlong: a final 0 after the first byte
    expect(kindOf(() => decode("ff80808000"))).toBe("BadVarint");
    expect(kindOf(() => decode("ffffffffffffffff"))).toBe("BadVarint"); // 8 bytes, still continuing
    expect(kindOf(() => decode("ffffffffffffffff01"))).toBe("BadVarint");
    expect(kindOf(() => decode("8080808080808010"))).toBe("BadVarint"); // 2^53
    expect(kindOf(() => decode("ffffffffffffff7f"))).toBe("BadVarint"); // 2^56 - 1
    expect(kindOf(() => decode("80"))).toBe("Truncated");
    expect(kindOf(() => decode(""))).toBe("Truncated");
    expect(kindOf(() => decode("0000"))).toBe("TrailingBytes");
    expect(kindOf(() => decode("00"))).toBe("none"); // a lone 0 is zero, not overlong
    expect(kindOf(() => decode("8001"))).toBe("none");
  });

  test("length() and string() bound lengths before reading", () => {
    expect(kindOf(() => new Reader(fromHex("05")).length(4))).toBe("DocumentTooLarge");
    expect(kindOf(() => new Reader(fromHex("0461")).string(10))).toBe("Truncated");
    expect(new Reader(fromHex("026869")).string(10)).toBe("hi");
    expect(kindOf(() => new Reader(fromHex("01ff")).string(10))).toBe("BadUtf8");
  });
});

describe("error messages", () => {
  test("read like the Rust engine's", () => {
    const message = (hex: string) => {
      try {
        decode(hex);
      } catch (error) {
        return (error as Error).message;
      }
      return "none";
    };
    expect(message("8000")).toBe("bad varint: overlong encoding");
    expect(message("80")).toBe("message truncated");
    expect(message("0000")).toBe("message has 1 trailing bytes");
  });
});

describe("UTF-8", () => {
  test("rejects encoded surrogates, overlong forms and stray continuation bytes", () => {
    for (const hex of ["eda080", "edbfbf", "c0af", "e080af", "80", "f4908080", "f0", "c3"]) {
      expect(kindOf(() => utf8Decode(fromHex(hex)))).toBe("BadUtf8");
    }
  });

  test("keeps a leading byte order mark", () => {
    expect(utf8Decode(fromHex("efbbbf61"))).toBe("\uFEFFa");
  });
});
