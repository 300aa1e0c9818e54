// Placeholder entry point until the web app lands: it only proves the sync engine bundles for the browser.
import { SyncClient } from "./sync";

const app = document.querySelector<HTMLElement>("#app");
if (app !== null) {
  const client = new SyncClient();
  app.textContent = `Orrery: sync engine loaded (client synced: ${client.isSynced}).`;
}
