/**
 * Messages for the user at the top of the page. There is at most one error on screen (`data-testid="error"`): a new
 * one replaces it, so the newest problem is the one shown. Information notices stack briefly beside it.
 */

import { h } from "./dom";

let host: HTMLElement | undefined;
let current: HTMLElement | undefined;
let timer: ReturnType<typeof setTimeout> | undefined;

function container(): HTMLElement {
  if (host === undefined || !host.isConnected) {
    host = h("div", { class: "toasts", attrs: { "aria-live": "polite" } });
    document.body.appendChild(host);
  }
  return host;
}

/** Shows an error until it is dismissed, replaced, or (for transient ones) a while has passed. */
export function showError(message: string, options: { transient?: boolean } = {}): void {
  clearError();
  for (const other of document.querySelectorAll<HTMLElement>('.dialog-error[data-testid="error"]')) {
    other.hidden = true;
    delete other.dataset.testid;
  }
  const element = h(
    "div",
    { class: "toast toast-error", testid: "error", attrs: { role: "alert" } },
    h("span", { class: "toast-text", text: message }),
    // The cross is drawn by CSS, so the element's text is the message alone.
    h("button", { class: "toast-close", title: "Dismiss", attrs: { "aria-label": "Dismiss" }, onclick: () => clearError() }),
  );
  current = element;
  container().appendChild(element);
  if (options.transient === true) timer = setTimeout(() => clearError(), 8000);
}

export function clearError(): void {
  if (timer !== undefined) clearTimeout(timer);
  timer = undefined;
  current?.remove();
  current = undefined;
}

/** A short confirmation ("Uploaded 3 files"), gone after a few seconds. */
export function showInfo(message: string): void {
  const element = h("div", { class: "toast toast-info", attrs: { role: "status" }, text: message });
  container().appendChild(element);
  setTimeout(() => element.remove(), 3500);
}
