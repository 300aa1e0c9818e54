/**
 * The one error type of the TypeScript sync engine. Kinds and wire codes match the Rust engine (`sync/src/error.rs`):
 * a vector that expects `BadVarint` from Rust expects it from here too.
 */

export type SyncErrorKind =
  | "BadVarint"
  | "BadOp"
  | "NonCanonical"
  | "BadUtf8"
  | "LengthMismatch"
  | "OutOfRange"
  | "DocumentTooLarge"
  | "MessageTooLarge"
  | "Truncated"
  | "TrailingBytes"
  | "UnknownMessage"
  | "Unexpected"
  | "Diff";

/** The numeric code a wire `Error` message carries for each kind. */
export const ERROR_CODES: Readonly<Record<SyncErrorKind, number>> = {
  BadVarint: 1,
  BadOp: 2,
  NonCanonical: 3,
  BadUtf8: 4,
  LengthMismatch: 5,
  OutOfRange: 6,
  DocumentTooLarge: 7,
  Truncated: 8,
  TrailingBytes: 9,
  UnknownMessage: 10,
  Unexpected: 11,
  Diff: 12,
  // 13 is retired: it named a bad editing trace, which is test data, not a wire error.
  MessageTooLarge: 14,
};

export class SyncError extends Error {
  readonly kind: SyncErrorKind;

  /** `detail` completes the message as the Rust error's Display does (e.g. "overlong encoding" for BadVarint). */
  constructor(kind: SyncErrorKind, detail = "") {
    super(describe(kind, detail));
    this.name = "SyncError";
    this.kind = kind;
  }

  /** The numeric code carried by a wire `Error` message. */
  get code(): number {
    return ERROR_CODES[this.kind];
  }
}

/** True when `error` is a SyncError, optionally of the given kind. */
export function isSyncError(error: unknown, kind?: SyncErrorKind): error is SyncError {
  return error instanceof SyncError && (kind === undefined || error.kind === kind);
}

/** The same words as the Rust `Error`'s Display, so an Error message reads alike from either engine. */
function describe(kind: SyncErrorKind, detail: string): string {
  switch (kind) {
    case "BadVarint":
      return `bad varint: ${detail}`;
    case "BadOp":
      return `bad delta op: ${detail}`;
    case "NonCanonical":
      return `delta is not canonical: ${detail}`;
    case "BadUtf8":
      return detail === "" ? "text is not valid UTF-8" : `text is not valid UTF-8: ${detail}`;
    case "DocumentTooLarge":
      return `document too large: ${detail}`;
    case "MessageTooLarge":
      return `message too large: ${detail}`;
    case "Truncated":
      return "message truncated";
    case "TrailingBytes":
      return `message has ${detail}`;
    case "Unexpected":
      return `unexpected message: ${detail}`;
    case "Diff":
      return `diff-match-patch failed: ${detail}`;
    default:
      return detail === "" ? kind : detail;
  }
}
