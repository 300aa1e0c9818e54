/**
 * The TypeScript twin of the Rust sync engine (`sync/`): PROTOCOL.md implemented for the browser.
 * Pure: no I/O, no timers. Both engines produce byte-identical messages and identical hashes for the same inputs.
 */

export * from "./errors";
export * from "./hash";
export * from "./varint";
export * from "./unicode";
export * from "./delta";
export { Text } from "./text";
export * from "./dmp";
export * from "./wire";
export * from "./client";
export * from "./server";
