/** The bar at the top: the name, where you are, the connection's state, who you are, and sign out. */

import type { Connection, ConnectionState } from "../net/connection";
import { h, replaceChildren } from "./dom";

/** The three states tests and people see; the connection has a few more shades. */
function shownState(state: ConnectionState): "connected" | "reconnecting" | "offline" {
  switch (state) {
    case "connected":
      return "connected";
    case "connecting":
    case "reconnecting":
      return "reconnecting";
    default:
      return "offline";
  }
}

export class Header {
  readonly element: HTMLElement;
  private readonly crumbs: HTMLElement;
  private readonly extra: HTMLElement;
  private readonly right: HTMLElement;
  private stopWatching: (() => void) | undefined;
  private tick: ReturnType<typeof setInterval> | undefined;

  constructor() {
    this.crumbs = h("nav", { class: "crumbs", attrs: { "aria-label": "Where you are" } });
    this.extra = h("div", { class: "header-extra" });
    this.right = h("div", { class: "header-right" });
    this.element = h(
      "header",
      { class: "app-header" },
      h("a", { class: "brand", attrs: { href: "#/" } }, h("span", { class: "brand-mark", attrs: { "aria-hidden": "true" } }), h("span", { text: "Orrery" })),
      this.crumbs,
      this.extra,
      h("span", { class: "spacer" }),
      this.right,
    );
  }

  setBreadcrumb(parts: (string | { text: string; href: string })[]): void {
    replaceChildren(
      this.crumbs,
      parts.map((part, index) => [
        index > 0 ? h("span", { class: "crumb-separator", text: "/" }) : null,
        typeof part === "string" ? h("span", { class: "crumb", text: part }) : h("a", { class: "crumb", attrs: { href: part.href }, text: part.text }),
      ]),
    );
  }

  /** A page's own element after the breadcrumb (who else is in a project), or nothing. */
  setExtra(element: HTMLElement | undefined): void {
    replaceChildren(this.extra, element);
  }

  /** Signed in: the connection badge, the account and sign out. */
  showAccount(name: string, connection: Connection, signOut: () => void): void {
    this.clearAccount();
    const badge = h("span", { class: "connection", testid: "connection-state", attrs: { role: "status" } });
    const render = () => {
      const state = connection.state;
      const shown = shownState(state);
      badge.dataset.state = shown;
      let text = shown === "connected" ? "Connected" : shown === "offline" ? "Offline" : state === "connecting" ? "Connecting…" : "Reconnecting…";
      if (state === "signed-out") text = "Signed out";
      const wait = connection.retryAt === undefined ? 0 : Math.ceil((connection.retryAt - Date.now()) / 1000);
      if ((state === "reconnecting" || state === "offline") && wait >= 2) text += ` · next try in ${wait} s`;
      replaceChildren(
        badge,
        h("span", { class: "connection-dot", attrs: { "aria-hidden": "true" } }),
        h("span", { text }),
        (state === "reconnecting" || state === "offline") && wait >= 2 ? h("button", { class: "link-button", text: "Try now", onclick: () => connection.retryNow() }) : null,
      );
    };
    render();
    this.stopWatching = connection.onState(render);
    this.tick = setInterval(render, 1000);
    replaceChildren(
      this.right,
      badge,
      h("span", { class: "account", testid: "account-name", text: name, title: "Signed in" }),
      h("button", { class: "button small ghost", testid: "sign-out", text: "Sign out", onclick: signOut }),
    );
  }

  clearAccount(): void {
    this.stopWatching?.();
    this.stopWatching = undefined;
    if (this.tick !== undefined) clearInterval(this.tick);
    this.tick = undefined;
    replaceChildren(this.right);
    replaceChildren(this.crumbs);
    replaceChildren(this.extra);
  }
}
