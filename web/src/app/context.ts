/** What every page of a signed-in session shares. */

import type { Account, Api } from "../net/api";
import type { Connection } from "../net/connection";
import type { SavedDocuments } from "../net/saved-documents";

export interface AppContext {
  api: Api;
  account: Account;
  /** The one WebSocket to the hub, shared by every open document, terminal and file list. */
  connection: Connection;
  saved: SavedDocuments;
  /** Sets the middle of the header (where the user is). */
  setBreadcrumb(parts: (string | { text: string; href: string })[]): void;
  /** Puts a page's own element in the header, after the breadcrumb (a project shows who else is in it); none clears it. */
  setHeaderExtra(element: HTMLElement | undefined): void;
}

/** Things that must be saved when the page goes away (`pagehide`). */
export const persistHooks = new Set<() => void>();
