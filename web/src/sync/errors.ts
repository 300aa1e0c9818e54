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
  | "Diff"
  | "Trace";

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
  Trace: 13,
  MessageTooLarge: 14,
};

export class SyncError extends Error {
  readonly kind: SyncErrorKind;

  constructor(kind: SyncErrorKind, detail?: string) {
    super(detail === undefined ? kind : `${kind}: ${detail}`);
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
