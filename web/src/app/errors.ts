/**
 * Errors in words a student understands. The hub's messages are already written for people, so most are shown as
 * they come (with a capital letter and a full stop); the few that are terse or technical are reworded here.
 */

import { ApiError } from "../net/api";
import type { ChannelEnd } from "../net/connection";
import { FileError } from "../net/files";

/** The metadata store's category prefixes ("not found: ..."), which say nothing the rest of the message does not. */
const PREFIXES = /^(not found|already exists|conflict|forbidden|invalid input): /i;

/**
 * A message as a sentence. One already written as a sentence (it ends with `.`, `!` or `?`) is shown as written.
 * Otherwise it gets a full stop, and a capital letter only when it starts with an ordinary word: a message that
 * starts with a name (`hello.py already exists`, `notes: permission denied`) keeps the name exactly as it is.
 */
export function sentence(text: string): string {
  const trimmed = text.trim().replace(PREFIXES, "");
  if (trimmed === "" || /[.!?]$/.test(trimmed)) return trimmed;
  const first = /^[a-z]+[ ,]/.test(trimmed) ? trimmed[0]!.toUpperCase() + trimmed.slice(1) : trimmed;
  return `${first}.`;
}

const API_WORDS: Record<string, string> = {
  wrong_credentials: "That e-mail address and password don't match. Check them and try again.",
  not_signed_in: "You have been signed out. Please sign in again.",
  network: "The server could not be reached. Check your internet connection and try again.",
  internal: "Something went wrong on the server. Please try again in a moment.",
  unavailable: "The server is busy or starting up. Please try again in a moment.",
  forbidden: "Only the project's owner can do that.",
  rate_limited: "Too many attempts in a short time. Wait a minute, then try again.",
};

const FILE_WORDS: Partial<Record<string, string>> = {
  outside_project: "That path points outside the project, which is not allowed.",
  not_found: "That file or folder does not exist (maybe someone renamed or deleted it).",
  already_exists: "Something with that name already exists here. Choose another name.",
  binary: "This file is not text, so it can't be opened in the editor. You can download it instead.",
  too_large_to_edit: "This file is too large to edit in the browser. You can download it instead.",
  no_project: "This project does not exist, or you are no longer one of its collaborators.",
  unavailable: "The project could not be started right now. Trying again shortly.",
};

/** The message to show for anything thrown by the API, the file service or the app. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    if (["forbidden", "wrong_credentials", "network", "internal", "unavailable"].includes(error.code)) {
      return API_WORDS[error.code]!;
    }
    return sentence(error.message) || API_WORDS[error.code] || "Something went wrong.";
  }
  if (error instanceof FileError) {
    if (error.code === "refused") return `The system refused: ${sentence(error.message)}`;
    return FILE_WORDS[error.code] ?? sentence(error.message);
  }
  if (error instanceof Error) return sentence(error.message);
  return "Something went wrong.";
}

/** Why a document, terminal or the file list could not be opened. */
export function describeEnd(end: ChannelEnd): string {
  switch (end.by) {
    case "refused":
      return FILE_WORDS[end.code] ?? sentence(end.message);
    case "signed-out":
      return "You have been signed out. Please sign in again.";
    case "connection-closed":
      return "Closed.";
  }
}
