/**
 * Hash routes, so a reload lands where the user was and the hub serves one page for every path:
 * `#/` projects, `#/p/<project>` a project, `#/p/<project>/f/<path>` a file in it, `#/p/<project>/t/<name>` a
 * terminal in it. Path segments are URI-encoded one by one, so a path's slashes stay readable.
 */

export type Route =
  | { page: "projects" }
  | { page: "project"; project: string; file?: string; terminal?: string };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, "").split("/");
  if (parts[0] === "p" && parts[1] !== undefined && parts[1] !== "") {
    const project = safeDecode(parts[1]);
    const rest = parts.slice(3).map(safeDecode).filter((part) => part !== "");
    if (parts[2] === "f" && rest.length > 0) return { page: "project", project, file: rest.join("/") };
    if (parts[2] === "t" && rest.length > 0) return { page: "project", project, terminal: rest.join("/") };
    return { page: "project", project };
  }
  return { page: "projects" };
}

export function formatRoute(route: Route): string {
  if (route.page === "projects") return "#/";
  const base = `#/p/${encodeURIComponent(route.project)}`;
  if (route.file !== undefined) return `${base}/f/${route.file.split("/").map(encodeURIComponent).join("/")}`;
  if (route.terminal !== undefined) return `${base}/t/${encodeURIComponent(route.terminal)}`;
  return base;
}

export function navigate(route: Route, options: { replace?: boolean } = {}): void {
  const hash = formatRoute(route);
  if (location.hash === hash) return;
  if (options.replace === true) history.replaceState(null, "", hash);
  else location.hash = hash;
  if (options.replace === true) window.dispatchEvent(new HashChangeEvent("hashchange"));
}

function safeDecode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}
