/**
 * The project's file service over one files channel: requests paired with their responses by id, uploads streamed
 * as FILE_DATA chunks paced by the socket's buffer, downloads gathered from FILE_DATA chunks into a Blob.
 *
 * Requests made before the channel is open wait for it; requests in flight when the connection drops fail (a rename
 * or delete sent again could act twice), and the caller is told in words it can show.
 */

import type { Entry, ErrorCode, FileOp, FileResponse, FileResult } from "../protocol/local-hub";
import type { Channel, ChannelEnd, Connection } from "./connection";
import { jsonBody, parseBody, readVarint, withVarintPrefix } from "./frame";
import * as kind from "./kinds";

/** A failed file operation; `code` is the local hub's (or `disconnected`). */
export class FileError extends Error {
  override readonly name = "FileError";
  constructor(
    readonly code: ErrorCode | "disconnected" | "closed",
    message: string,
  ) {
    super(message);
  }
}

type Success = Exclude<FileResult, { result: "error" }>;

interface Pending {
  resolve(result: Success): void;
  reject(error: FileError): void;
  /** Download chunks, in order. */
  chunks?: Uint8Array[];
}

/** Upload chunk size: well under the frame limit, small enough to keep the socket responsive. */
const UPLOAD_CHUNK = 256 * 1024;
/** Uploads wait while the socket has more than this queued. */
const UPLOAD_BUFFER = 2 * 1024 * 1024;

export class FilesSession {
  private channel: Channel;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Requests waiting for the channel to open. */
  private queue: { send(): void; fail(error: FileError): void }[] = [];
  private readonly openListeners = new Set<() => void>();
  private readonly endListeners = new Set<(end: ChannelEnd) => void>();
  private ended: ChannelEnd | undefined;

  constructor(connection: Connection, project: string) {
    this.channel = connection.open(
      project,
      { service: "files" },
      {
        opened: () => {
          for (const waiting of this.queue.splice(0)) waiting.send();
          for (const listener of [...this.openListeners]) listener();
        },
        frame: (frameKind, body) => this.frame(frameKind, body),
        error: (error) => {
          const request = error.request ?? undefined;
          if (request !== undefined) this.settle(request, { result: "error", code: error.code as ErrorCode, message: error.message });
          else console.warn(`files channel: ${error.message}`);
        },
        interrupted: () => this.failAll("disconnected", "The connection to the server was lost before this finished. Try again once it is back."),
        ended: (end) => {
          this.ended = end;
          for (const listener of [...this.endListeners]) listener(end);
          const message = end.by === "refused" ? end.message : "The project is closed.";
          this.failAll("closed", message);
        },
      },
    );
  }

  /** Called whenever the channel (re)opens: a good time to refresh listings. */
  onOpen(listener: () => void): () => void {
    this.openListeners.add(listener);
    return () => this.openListeners.delete(listener);
  }

  /** Called when the channel ends for good (the project is gone, or this account was removed from it). */
  onEnd(listener: (end: ChannelEnd) => void): () => void {
    this.endListeners.add(listener);
    return () => this.endListeners.delete(listener);
  }

  get isOpen(): boolean {
    return this.channel.isOpen;
  }

  close(): void {
    this.channel.close();
    this.failAll("closed", "The project is closed.");
  }

  list(path: string): Promise<Entry[]> {
    return this.request({ op: "list", path }).then((result) => (result.result === "entries" ? result.entries : []));
  }

  mkdir(path: string): Promise<void> {
    return this.request({ op: "mkdir", path }).then(() => undefined);
  }

  write(path: string, text: string): Promise<void> {
    return this.request({ op: "write", path, text }).then(() => undefined);
  }

  rename(from: string, to: string): Promise<void> {
    return this.request({ op: "rename", from, to }).then(() => undefined);
  }

  remove(path: string): Promise<void> {
    return this.request({ op: "delete", path }).then(() => undefined);
  }

  stat(path: string): Promise<Entry> {
    return this.request({ op: "stat", path }).then((result) => {
      if (result.result !== "stat") throw new FileError("internal", "the server answered a stat with something else");
      return result.entry;
    });
  }

  /** One request and its answer. */
  request(op: FileOp): Promise<Success> {
    return new Promise((resolve, reject) => {
      if (this.ended !== undefined) {
        reject(new FileError("closed", "The project is closed."));
        return;
      }
      const id = this.nextId++;
      const send = () => {
        this.pending.set(id, { resolve, reject });
        if (!this.channel.send(kind.FILE_REQUEST, jsonBody({ id, ...op }))) {
          this.pending.delete(id);
          reject(new FileError("disconnected", "Not connected to the server right now. Try again in a moment."));
        }
      };
      if (this.channel.isOpen) send();
      else this.queue.push({ send, fail: reject });
    });
  }

  /** Uploads `data` to `path` (replacing it); `progress` hears the bytes sent so far. Resolves with the size written. */
  async upload(path: string, data: Blob, progress?: (sent: number, total: number) => void): Promise<number> {
    await this.whenOpen();
    const id = this.nextId++;
    let failed: FileError | undefined;
    const done = new Promise<Success>((resolve, reject) => {
      this.pending.set(id, {
        resolve,
        reject: (error) => {
          failed = error;
          reject(error);
        },
      });
    });
    // Keep an early rejection from being reported as unhandled while chunks are still going out.
    done.catch(() => {});
    if (!this.channel.send(kind.FILE_REQUEST, jsonBody({ id, op: "upload", path }))) {
      this.pending.delete(id);
      throw new FileError("disconnected", "Not connected to the server right now. Try again in a moment.");
    }
    for (let offset = 0; offset < data.size; offset += UPLOAD_CHUNK) {
      if (failed !== undefined) break;
      while (this.channel.bufferedAmount > UPLOAD_BUFFER && failed === undefined) await delay(20);
      const chunk = new Uint8Array(await data.slice(offset, offset + UPLOAD_CHUNK).arrayBuffer());
      if (failed !== undefined) break;
      if (!this.channel.send(kind.FILE_DATA, withVarintPrefix(id, chunk))) {
        this.settle(id, { result: "error", code: "internal", message: "The connection was lost during the upload. Try again." });
        break;
      }
      progress?.(Math.min(offset + chunk.length, data.size), data.size);
    }
    if (failed === undefined) this.channel.send(kind.FILE_REQUEST, jsonBody({ id, op: "upload_end" }));
    const result = await done;
    return result.result === "transferred" ? result.bytes : data.size;
  }

  /** Downloads a file into memory. */
  async download(path: string): Promise<Blob> {
    await this.whenOpen();
    const id = this.nextId++;
    const chunks: Uint8Array[] = [];
    const done = new Promise<Success>((resolve, reject) => this.pending.set(id, { resolve, reject, chunks }));
    if (!this.channel.send(kind.FILE_REQUEST, jsonBody({ id, op: "download", path }))) {
      this.pending.delete(id);
      throw new FileError("disconnected", "Not connected to the server right now. Try again in a moment.");
    }
    await done;
    return new Blob(chunks as BlobPart[]);
  }

  private whenOpen(): Promise<void> {
    if (this.channel.isOpen) return Promise.resolve();
    if (this.ended !== undefined) return Promise.reject(new FileError("closed", "The project is closed."));
    return new Promise((resolve, reject) => this.queue.push({ send: resolve, fail: reject }));
  }

  private frame(frameKind: number, body: Uint8Array): void {
    if (frameKind === kind.FILE_RESPONSE) {
      const response = parseBody<FileResponse>(body);
      this.settle(response.id, response);
    } else if (frameKind === kind.FILE_DATA) {
      const id = readVarint(body);
      if (id === undefined) return;
      this.pending.get(id.value)?.chunks?.push(body.slice(id.next));
    }
  }

  private settle(id: number, result: FileResult): void {
    const pending = this.pending.get(id);
    if (pending === undefined) return;
    this.pending.delete(id);
    if (result.result === "error") pending.reject(new FileError(result.code, result.message));
    else pending.resolve(result);
  }

  private failAll(code: "disconnected" | "closed", message: string): void {
    for (const [id, pending] of [...this.pending]) {
      this.pending.delete(id);
      pending.reject(new FileError(code, message));
    }
    if (code === "closed") for (const waiting of this.queue.splice(0)) waiting.fail(new FileError(code, message));
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
