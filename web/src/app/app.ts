/**
 * The app: who is signed in, the one connection to the hub, and which page the route shows. Pages are plain classes
 * with an `element` and a `destroy()`; the project page stays up while the route moves between its files.
 */

import { Api, type Account } from "../net/api";
import { Connection, defaultUrl } from "../net/connection";
import { SavedDocuments } from "../net/saved-documents";
import { persistHooks, type AppContext } from "./context";
import { h } from "./dom";
import { describeError } from "./errors";
import { Header } from "./header";
import { ProjectView } from "./project-view";
import { ProjectsPage } from "./projects";
import { parseRoute } from "./router";
import { SignInPage } from "./signin";
import { clearError, showError } from "./toast";

interface Page {
  element: HTMLElement;
  destroy(): void;
}

export class App {
  private readonly api = new Api();
  private readonly header = new Header();
  private readonly main: HTMLElement;
  private context: AppContext | undefined;
  private page: Page | undefined;

  constructor(root: HTMLElement) {
    this.main = h("div", { class: "app-main" });
    root.replaceChildren(this.header.element, this.main);
    window.addEventListener("hashchange", () => this.render());
    // Unsent edits are saved before the page goes (reload, closed tab, navigation away).
    window.addEventListener("pagehide", () => {
      for (const hook of [...persistHooks]) hook();
    });
    window.addEventListener("online", () => this.context?.connection.networkChanged(true));
    window.addEventListener("offline", () => this.context?.connection.networkChanged(false));
  }

  async start(): Promise<void> {
    this.showPage(h("main", { class: "page loading-page" }, h("div", { class: "loading", text: "Loading…" })));
    for (;;) {
      try {
        const account = await this.api.me();
        if (account === undefined) this.showSignIn();
        else this.signedIn(account);
        return;
      } catch (error) {
        // The hub is not reachable yet: say so and keep trying.
        showError(`${describeError(error)} Retrying…`);
        await new Promise((resolve) => setTimeout(resolve, 3000));
      }
    }
  }

  private signedIn(account: Account): void {
    clearError();
    const connection = new Connection({
      url: defaultUrl(),
      isOnline: () => navigator.onLine,
      checkSignedIn: async () => (await this.api.me()) !== undefined,
    });
    connection.onProblem((problem) => console.warn(`connection: ${problem}`));
    connection.onState((state) => {
      if (state === "signed-out" && this.context?.connection === connection) this.signedOut("Your sign-in has expired. Please sign in again.");
    });
    connection.start();
    this.context = {
      api: this.api,
      account,
      connection,
      saved: new SavedDocuments(storage(), account.id),
      setBreadcrumb: (parts) => this.header.setBreadcrumb(parts),
      setHeaderExtra: (element) => this.header.setExtra(element),
    };
    this.header.showAccount(account.display_name, connection, () => void this.signOut());
    this.render();
  }

  private async signOut(): Promise<void> {
    // Anything unsent is saved first; it stays on this computer for when this account signs in again.
    for (const hook of [...persistHooks]) hook();
    try {
      await this.api.signOut();
    } catch (error) {
      showError(describeError(error));
      return;
    }
    this.signedOut();
  }

  private signedOut(message?: string): void {
    this.closePage();
    this.context?.connection.close();
    this.context = undefined;
    this.header.clearAccount();
    document.title = "Orrery";
    this.showSignIn();
    if (message !== undefined) showError(message);
  }

  private showSignIn(): void {
    this.header.clearAccount();
    this.showPage(new SignInPage(this.api, (account) => this.signedIn(account)));
  }

  private render(): void {
    const context = this.context;
    if (context === undefined) return;
    const route = parseRoute(location.hash);
    if (route.page === "project") {
      if (this.page instanceof ProjectView && this.page.project === route.project) {
        this.page.route(route);
        return;
      }
      const view = new ProjectView(context, route.project);
      this.showPage(view);
      view.route(route);
      return;
    }
    document.title = "Orrery";
    this.showPage(new ProjectsPage(context));
  }

  private showPage(page: Page | HTMLElement): void {
    this.closePage();
    // A message about the page being left means nothing on the next one.
    clearError();
    if (page instanceof HTMLElement) {
      this.main.replaceChildren(page);
      return;
    }
    this.page = page;
    this.main.replaceChildren(page.element);
  }

  private closePage(): void {
    this.page?.destroy();
    this.page = undefined;
  }
}

/** localStorage, when the browser lets the page use it. */
function storage(): Storage | undefined {
  try {
    const probe = "orrery.probe";
    localStorage.setItem(probe, "1");
    localStorage.removeItem(probe);
    return localStorage;
  } catch {
    return undefined;
  }
}
