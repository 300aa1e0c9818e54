/**
 * The hub's HTTP JSON API (`hub/src/account.rs`, `hub/src/project.rs`): accounts, sign-in, projects, collaborators.
 * Every call sends the session cookie (HttpOnly, so script never sees it); every failure is an `ApiError` carrying
 * the hub's `{"error": {"code", "message"}}`, or `network` when the hub could not be reached at all.
 */

export interface Account {
  id: string;
  email: string;
  display_name: string;
  created: number;
}

export type Role = "owner" | "collaborator";

export interface Project {
  id: string;
  title: string;
  owner: string;
  created: number;
  /** The signed-in account's role in it. */
  role: Role;
}

export interface Collaborator {
  id: string;
  email: string;
  display_name: string;
  role: Role;
  added: number;
}

export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    /** HTTP status; 0 when the request never got an answer. */
    readonly status: number,
    /** The hub's error code (`wrong_credentials`, `not_found`, ...), or `network`. */
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type Fetch = typeof fetch;

export class Api {
  constructor(
    private readonly base = "",
    private readonly fetcher: Fetch = (input, init) => fetch(input, init),
  ) {}

  signUp(email: string, password: string, displayName: string): Promise<Account> {
    return this.call("POST", "/api/accounts", { email, password, display_name: displayName });
  }

  signIn(email: string, password: string): Promise<Account> {
    return this.call("POST", "/api/sign-in", { email, password });
  }

  signOut(): Promise<void> {
    return this.call("POST", "/api/sign-out");
  }

  /** The signed-in account, or `undefined` when nobody is signed in. */
  async me(): Promise<Account | undefined> {
    try {
      return await this.call<Account>("GET", "/api/me");
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return undefined;
      throw error;
    }
  }

  projects(): Promise<Project[]> {
    return this.call("GET", "/api/projects");
  }

  createProject(title: string): Promise<Project> {
    return this.call("POST", "/api/projects", { title });
  }

  project(id: string): Promise<Project> {
    return this.call("GET", `/api/projects/${encodeURIComponent(id)}`);
  }

  renameProject(id: string, title: string): Promise<Project> {
    return this.call("PATCH", `/api/projects/${encodeURIComponent(id)}`, { title });
  }

  deleteProject(id: string): Promise<void> {
    return this.call("DELETE", `/api/projects/${encodeURIComponent(id)}`);
  }

  collaborators(id: string): Promise<Collaborator[]> {
    return this.call("GET", `/api/projects/${encodeURIComponent(id)}/collaborators`);
  }

  invite(id: string, email: string): Promise<Collaborator> {
    return this.call("POST", `/api/projects/${encodeURIComponent(id)}/collaborators`, { email });
  }

  removeCollaborator(id: string, account: string): Promise<void> {
    return this.call("DELETE", `/api/projects/${encodeURIComponent(id)}/collaborators/${encodeURIComponent(account)}`);
  }

  leave(id: string): Promise<void> {
    return this.call("POST", `/api/projects/${encodeURIComponent(id)}/leave`);
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await this.fetcher(this.base + path, {
        method,
        credentials: "same-origin",
        headers: body === undefined ? { Accept: "application/json" } : { Accept: "application/json", "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, "network", "The server could not be reached. Check your connection and try again.");
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === "" ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ApiError(response.status, error?.code ?? `http_${response.status}`, error?.message ?? `The server answered ${response.status} ${response.statusText}.`);
    }
    return parsed as T;
  }
}
