/**
 * The project list: create, open, rename, delete or leave, and each project's collaborators. It follows changes made
 * elsewhere without a reload: the hub pushes PROJECTS_CHANGED when this account is invited to a project or removed
 * from one (or a project of its is renamed or deleted) through the same hub, and the list is fetched again every
 * 15 s while the page is visible, for changes made through another hub.
 */

import { ApiError, type Collaborator, type Project } from "../net/api";
import type { AppContext } from "./context";
import { confirm, prompt } from "./dialog";
import { h, relativeTime, replaceChildren } from "./dom";
import { describeError } from "./errors";
import { navigate } from "./router";
import { clearError, showError, showInfo } from "./toast";

/** How often the list is fetched again while the page is visible. */
const REFRESH_MS = 15_000;

export class ProjectsPage {
  readonly element: HTMLElement;
  private readonly list: HTMLElement;
  private destroyed = false;
  /** Bumped by every fetch; the newest answer shown, so an older one arriving late never replaces it. */
  private loads = 0;
  private shownLoad = 0;
  /** What is on screen, to leave the list (and the focus in it) alone when nothing changed. */
  private shown = "";
  private readonly stopWatching: () => void;
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly onVisible = () => {
    if (document.visibilityState === "visible") void this.load({ quiet: true });
  };

  constructor(private readonly context: AppContext) {
    context.setBreadcrumb(["Projects"]);
    const title = h("input", { class: "input", testid: "new-project-title", type: "text", placeholder: "Name a new project, e.g. Homework 3", attrs: { maxlength: 200, "aria-label": "New project title" } });
    const create = h("button", { class: "button primary", testid: "new-project-submit", type: "submit", text: "Create project" });
    this.list = h("ul", { class: "project-list" }, h("li", { class: "muted", text: "Loading your projects…" }));
    this.element = h(
      "main",
      { class: "page projects-page" },
      h("div", { class: "page-heading" }, h("h1", { text: "Your projects" })),
      h(
        "form",
        {
          class: "new-project",
          onsubmit: (event) => {
            event.preventDefault();
            void this.create(title, create);
          },
        },
        title,
        create,
      ),
      this.list,
    );
    this.stopWatching = context.connection.onProjectsChanged(() => void this.load({ quiet: true }));
    this.timer = setInterval(this.onVisible, REFRESH_MS);
    document.addEventListener("visibilitychange", this.onVisible);
    void this.load();
  }

  destroy(): void {
    this.destroyed = true;
    this.stopWatching();
    clearInterval(this.timer);
    document.removeEventListener("visibilitychange", this.onVisible);
    this.element.remove();
  }

  /** Fetches the list and shows it; a background refresh (`quiet`) that fails keeps what is shown and says nothing. */
  private async load(options: { quiet?: boolean } = {}): Promise<void> {
    const request = ++this.loads;
    try {
      const projects = await this.context.api.projects();
      if (this.destroyed || request < this.shownLoad) return;
      this.shownLoad = request;
      const shown = JSON.stringify(projects);
      if (shown === this.shown) return;
      this.shown = shown;
      this.render(projects);
    } catch (error) {
      if (this.destroyed || request < this.shownLoad || options.quiet === true) return;
      this.shown = "";
      replaceChildren(this.list, h("li", { class: "muted", text: "Your projects could not be loaded." }));
      showError(describeError(error));
    }
  }

  private render(projects: Project[]): void {
    if (projects.length === 0) {
      replaceChildren(this.list, h("li", { class: "empty-state" }, h("strong", { text: "No projects yet." }), " Give your first one a name above and press Create project."));
      return;
    }
    replaceChildren(this.list, projects.map((project) => this.row(project)));
  }

  private row(project: Project): HTMLElement {
    const owner = project.role === "owner";
    const open = () => navigate({ page: "project", project: project.id });
    return h(
      "li",
      { class: "project-row", testid: "project-row", data: { projectId: project.id, role: project.role } },
      h(
        "button",
        { class: "project-main", onclick: open, title: "Open" },
        h("span", { class: "project-title", testid: "project-title", text: project.title }),
        h("span", { class: "project-meta", text: `${owner ? "Yours" : "Shared with you"} · created ${relativeTime(project.created)}` }),
      ),
      h(
        "div",
        { class: "project-actions" },
        h("button", { class: "button small primary", testid: "project-open", text: "Open", onclick: open }),
        h("button", { class: "button small", testid: "project-collaborators", text: "Collaborators", onclick: () => void this.collaborators(project) }),
        h("button", { class: "button small", testid: "project-rename", text: "Rename", onclick: () => void this.rename(project) }),
        owner
          ? h("button", { class: "button small danger-text", testid: "project-delete", text: "Delete", onclick: () => void this.remove(project) })
          : h("button", { class: "button small danger-text", testid: "project-leave", text: "Leave", onclick: () => void this.leave(project) }),
      ),
    );
  }

  private async create(input: HTMLInputElement, button: HTMLButtonElement): Promise<void> {
    const title = input.value.trim();
    if (title === "") {
      showError("Please give the project a name.");
      input.focus();
      return;
    }
    button.disabled = true;
    try {
      await this.context.api.createProject(title);
      clearError();
      input.value = "";
      await this.load();
    } catch (error) {
      showError(describeError(error));
    } finally {
      button.disabled = false;
    }
  }

  private async rename(project: Project): Promise<void> {
    const title = await prompt({
      title: "Rename project",
      label: "Project name",
      value: project.title,
      okText: "Rename",
      submit: async (value) => {
        await this.context.api.renameProject(project.id, value);
      },
    });
    if (title !== undefined) await this.load();
  }

  private async remove(project: Project): Promise<void> {
    const ok = await confirm("Delete project", `Delete “${project.title}” and all its files, for you and every collaborator? This cannot be undone.`, "Delete", true);
    if (!ok) return;
    try {
      await this.context.api.deleteProject(project.id);
      showInfo(`Deleted “${project.title}”`);
    } catch (error) {
      showError(describeError(error));
    }
    await this.load();
  }

  private async leave(project: Project): Promise<void> {
    const ok = await confirm("Leave project", `Leave “${project.title}”? You will lose access until someone invites you again.`, "Leave", true);
    if (!ok) return;
    try {
      await this.context.api.leave(project.id);
    } catch (error) {
      showError(describeError(error));
    }
    await this.load();
  }

  private async collaborators(project: Project): Promise<void> {
    const dialog = new CollaboratorsDialog(this.context, project);
    await dialog.closed;
    await this.load();
  }
}

/** Who is in a project: invite by e-mail, remove (owner), leave (everyone else). */
export class CollaboratorsDialog {
  readonly closed: Promise<void>;
  private readonly rows: HTMLElement;
  private close!: () => void;

  constructor(
    private readonly context: AppContext,
    private readonly project: Project,
  ) {
    this.rows = h("ul", { class: "collaborator-list" }, h("li", { class: "muted", text: "Loading…" }));
    const email = h("input", { class: "input", testid: "invite-email", type: "email", placeholder: "their e-mail address", attrs: { "aria-label": "E-mail address to invite", autocomplete: "off" } });
    const invite = h("button", { class: "button primary", testid: "invite-submit", type: "submit", text: "Invite" });
    const dialog = h(
      "div",
      { class: "dialog wide", attrs: { role: "dialog", "aria-modal": "true", "aria-label": "Collaborators" } },
      h("h2", { class: "dialog-title", text: `Collaborators on “${project.title}”` }),
      this.rows,
      h(
        "form",
        {
          class: "invite",
          onsubmit: (event) => {
            event.preventDefault();
            void this.invite(email, invite);
          },
        },
        email,
        invite,
      ),
      h("p", { class: "field-hint", text: "They need an Orrery account with that address. Everyone in a project can invite others." }),
      h("div", { class: "dialog-buttons" }, h("button", { class: "button", testid: "collaborators-close", type: "button", text: "Close", onclick: () => this.close() })),
    );
    const overlay = h("div", { class: "overlay" }, dialog);
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape") this.close();
    };
    this.closed = new Promise((resolve) => {
      this.close = () => {
        overlay.remove();
        document.removeEventListener("keydown", onKey, true);
        resolve();
      };
    });
    document.addEventListener("keydown", onKey, true);
    document.body.appendChild(overlay);
    email.focus();
    void this.load();
  }

  private async load(): Promise<void> {
    try {
      const people = await this.context.api.collaborators(this.project.id);
      replaceChildren(this.rows, people.map((person) => this.row(person)));
    } catch (error) {
      replaceChildren(this.rows, h("li", { class: "muted", text: "The collaborators could not be loaded." }));
      showError(describeError(error));
    }
  }

  private row(person: Collaborator): HTMLElement {
    const me = person.id === this.context.account.id;
    const iAmOwner = this.project.role === "owner";
    let action: HTMLElement | null = null;
    if (me && person.role !== "owner") {
      action = h("button", { class: "button small danger-text", testid: "collaborator-leave", text: "Leave", onclick: () => void this.leave() });
    } else if (!me && iAmOwner && person.role !== "owner") {
      action = h("button", { class: "button small danger-text", testid: "collaborator-remove", text: "Remove", onclick: () => void this.remove(person) });
    }
    return h(
      "li",
      { class: "collaborator-row", testid: "collaborator-row", data: { accountId: person.id, email: person.email, role: person.role } },
      h("span", { class: "avatar", text: initials(person.display_name), attrs: { "aria-hidden": "true" } }),
      h(
        "span",
        { class: "collaborator-who" },
        h("span", { class: "collaborator-name", text: `${person.display_name}${me ? " (you)" : ""}` }),
        h("span", { class: "collaborator-email", text: person.email }),
      ),
      h("span", { class: `role role-${person.role}`, text: person.role === "owner" ? "Owner" : "Collaborator" }),
      action,
    );
  }

  private async invite(input: HTMLInputElement, button: HTMLButtonElement): Promise<void> {
    const email = input.value.trim();
    if (email === "") {
      showError("Please enter the e-mail address of the person to invite.");
      return;
    }
    button.disabled = true;
    try {
      const added = await this.context.api.invite(this.project.id, email);
      clearError();
      input.value = "";
      showInfo(`${added.display_name} can now open this project`);
      await this.load();
    } catch (error) {
      showError(
        error instanceof ApiError && error.status === 404
          ? `There is no Orrery account with the address ${email}. Ask them to sign up first, then invite them again.`
          : describeError(error),
      );
    } finally {
      button.disabled = false;
    }
  }

  private async remove(person: Collaborator): Promise<void> {
    try {
      await this.context.api.removeCollaborator(this.project.id, person.id);
      await this.load();
    } catch (error) {
      showError(describeError(error));
    }
  }

  private async leave(): Promise<void> {
    try {
      await this.context.api.leave(this.project.id);
      this.close();
    } catch (error) {
      showError(describeError(error));
    }
  }
}

function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter((part) => part !== "");
  const letters = parts.length > 1 ? [parts[0]!, parts[parts.length - 1]!].map((part) => [...part][0]) : [...(parts[0] ?? "?")].slice(0, 2);
  return letters.join("").toUpperCase();
}
