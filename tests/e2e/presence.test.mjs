#!/usr/bin/env node
// Who is in a project, and the terminals they share, as people see them in the browser. Outside testing found that
// nobody saw who else was in a project, that terminals were shared only by typing the same name (which nobody
// guessed), that the prompt was `orrery-4e6e61e7226a45dfa82a@vm:~$`, that an invited user saw the project only after a
// reload, that a collaborator who went offline kept a stale cursor label, and that after the server restarted a
// terminal silently became a fresh shell. Each step reproduces one of those.
//
// usage: node tests/e2e/presence.test.mjs [--orrery PATH] [--chromium PATH] [--out DIR]

import fs from 'node:fs';

import { Failure, show, waitUntil } from './harness.mjs';
import { Session, UI_MS, User } from './ui.mjs';

const session = await Session.create('presence', { totalMs: 240_000 });
const { token } = session;
const FILE = 'notes.txt';
const CURSORS = 'cursors.txt';
/** How long the hub may take to notice a page that went away without closing its socket (three 3 s probes, and some). */
const OFFLINE_MS = 20_000;
const state = { projectId: undefined, terminal: undefined };
let A;
let B;
let C;

await session.start();

await session.step(1, 'A, B and C sign up; A creates a project and invites B', async () => {
  A = await session.user('A');
  B = await session.user('B');
  C = await session.user('C');
  await Promise.all([A.signUp(), B.signUp(), C.signUp()]);
  state.projectId = await A.createProject(`Presence ${token}`);
  await A.invite(state.projectId, B);
}, { timeoutMs: 45_000, needs: [0] });

await session.step(2, "B sees A's avatar and the file A looks at; a click on it opens that file", async () => {
  await A.openProject(state.projectId);
  await A.createFile(FILE);
  await A.visible(A.editor(FILE).locator('.cm-content'), `A's editor of ${FILE}`);
  await B.goto('#/');
  await B.openProject(state.projectId);
  const avatar = person(B, A);
  await B.visible(avatar, `A's avatar in the header`);
  await waitUntil(`B to see that A looks at ${FILE}`, () => avatar.first().getAttribute('data-focus-file'), (file) => file === FILE, { timeoutMs: UI_MS });
  const initials = (await avatar.first().locator('.avatar').innerText()).trim();
  if (initials !== 'AE') throw new Failure(`A's avatar shows ${show(initials)}, not the initials of ${show(A.name)}`);
  await A.visible(person(A, B), `B's avatar in the header`);
  await B.click(avatar, "click A's avatar");
  await B.visible(B.editor(FILE).locator('.cm-content'), `the editor of ${FILE}, opened from A's avatar`);
  // Now that B looks at it too, A sees so.
  await waitUntil(`A to see that B looks at ${FILE}`, () => person(A, B).first().getAttribute('data-focus-file'), (file) => file === FILE, {
    timeoutMs: UI_MS,
  });
}, { timeoutMs: 40_000, needs: [1] });

await session.step(3, "A opens a terminal without naming it; B joins it from the list with one click and sees A's output", async () => {
  await A.click(A.byTestId('new-terminal'), 'open a new terminal');
  const terminal = A.byTestId('terminal');
  await A.visible(terminal.or(A.byTestId('dialog-input')), 'a terminal (or a dialog asking its name)');
  if (await A.byTestId('dialog-input').isVisible()) {
    await A.page.keyboard.press('Escape');
    throw new Failure('a new terminal asks for a name instead of opening with a default one');
  }
  state.terminal = await terminal.first().getAttribute('data-terminal');
  console.log(`  terminal "${state.terminal}"`);
  await A.click(terminal.first(), 'focus the terminal');
  await A.type(`echo presence-$((6*7))-${token}`, { delay: 0 });
  await A.page.keyboard.press('Enter');
  const printed = `presence-42-${token}`;
  await expectTerminal(A, state.terminal, (screen) => lines(screen).includes(printed), 'the output of their own command');

  // B's list shows it live (no reload), with who opened it; one click joins it.
  const row = B.page.locator(`[data-testid="terminal-row"][data-terminal="${state.terminal}"]`);
  await B.visible(row, `terminal "${state.terminal}" in B's list of running terminals`);
  const says = await row.first().innerText();
  if (!says.includes(A.name)) throw new Failure(`the list does not say who opened the terminal: ${show(says)}`);
  await B.click(row, `join terminal "${state.terminal}" from the list`);
  await expectTerminal(B, state.terminal, (screen) => lines(screen).includes(printed), "the output of A's command");
  // A's list now shows B watching too.
  await waitUntil(
    `A's list to show two people on "${state.terminal}"`,
    () => A.page.locator(`[data-testid="terminal-row"][data-terminal="${state.terminal}"]`).first().getAttribute('data-viewers'),
    (viewers) => viewers === '2',
    { timeoutMs: UI_MS },
  );
}, { timeoutMs: 40_000, needs: [1] });

await session.step(4, "B's own terminal has a short prompt: B's name at the project's name, no id, no machine", async () => {
  await B.openProject(state.projectId);
  const name = await openTerminal(B, `b-${token}`);
  if (name === state.terminal) throw new Failure(`B's new terminal took the name of A's, "${name}"`);
  const prompt = `b@presence-${token}`;
  const screen = await expectTerminal(B, name, (text) => text.includes(prompt), `the prompt ${show(prompt)}`);
  const line = lines(screen).find((text) => text.includes(prompt));
  const idPart = state.projectId.replaceAll('-', '').slice(0, 12);
  if (line.includes(idPart) || line.includes('orrery-') || /@vm\b/.test(line) || line.length > 40) {
    throw new Failure(`the prompt line is ${show(line)}: it should be short, without the project's id or the machine`);
  }
  console.log(`  prompt: ${show(line)}`);
}, { timeoutMs: 30_000, needs: [1] });

await session.step(5, "B's network goes away: B's cursor and avatar leave A's screen within seconds", async () => {
  await openTogether(CURSORS);
  await B.page.context().setOffline(true);
  await waitUntil("B's cursor to leave A's editor", () => cursorOf(A, B, CURSORS).count(), (count) => count === 0, { timeoutMs: OFFLINE_MS });
  await waitUntil("B's avatar to leave A's header", () => person(A, B).count(), (count) => count === 0, { timeoutMs: UI_MS });
  // Back online, B is back.
  await B.page.context().setOffline(false);
  await B.expectConnection('connected', 30_000, 'to be connected again');
  await A.visible(person(A, B), "B's avatar, B being back");
}, { timeoutMs: 90_000, needs: [1] });

await session.step(6, "B closes their tab: B's cursor and avatar leave A's screen at once", async () => {
  await openTogether(CURSORS);
  await A.visible(person(A, B), `B's avatar in A's header`);
  await B.page.close({ runBeforeUnload: true });
  await waitUntil("B's cursor to leave A's editor", () => cursorOf(A, B, CURSORS).count(), (count) => count === 0, { timeoutMs: UI_MS });
  await waitUntil("B's avatar to leave A's header", () => person(A, B).count(), (count) => count === 0, { timeoutMs: UI_MS });
}, { timeoutMs: 40_000, needs: [1] });

await session.step(7, 'C, looking at their project list, sees the project appear when invited and go when removed, without a reload', async () => {
  await C.goto('#/');
  await C.visible(C.byTestId('new-project-title'), 'their project list');
  await C.page.evaluate((mark) => {
    window.__presenceMark = mark;
  }, token);
  // A invites C from a second tab of A's, so A's first tab stays in the project.
  const admin = await A.page.context().newPage();
  const adminUser = new User(session, 'A (second tab)', admin, A.account);
  await adminUser.goto('#/');
  await adminUser.invite(state.projectId, C);
  await C.visible(C.projectRow(state.projectId), 'the project they were just invited to, in their list');
  // Removed again: the row goes.
  await adminUser.click(adminUser.projectRow(state.projectId).getByTestId('project-collaborators'), 'open the collaborators dialog');
  const row = admin.locator(`[data-testid="collaborator-row"][data-email="${C.email}"]`);
  await adminUser.click(row.getByTestId('collaborator-remove'), 'remove C');
  await waitUntil('C to be gone from the collaborators', () => row.count(), (count) => count === 0, { timeoutMs: UI_MS });
  await adminUser.click(adminUser.byTestId('collaborators-close'), 'close the collaborators dialog');
  await waitUntil("the project to leave C's list", () => C.projectRow(state.projectId).count(), (count) => count === 0, { timeoutMs: UI_MS });
  const mark = await C.page.evaluate(() => window.__presenceMark);
  if (mark !== token) throw new Failure("C's page was reloaded: the list must change by itself");
  await admin.close();
}, { timeoutMs: 40_000, needs: [1] });

await session.step(8, "the project's server (its local hub) is killed: A's terminal says it restarted, and what was lost", async () => {
  await A.openProject(state.projectId);
  const tab = A.page.locator(`[data-testid="tab"][data-terminal="${state.terminal}"]`);
  if (state.terminal !== undefined && (await tab.count()) > 0) await A.click(tab, `switch to the tab of terminal "${state.terminal}"`);
  else state.terminal = await openTerminal(A, `a-${token}`);
  await A.click(A.page.locator(`[data-testid="terminal"][data-terminal="${state.terminal}"] .xterm`), 'focus the terminal');
  await A.type(`echo before-$((6*7))-${token}`, { delay: 0 });
  await A.page.keyboard.press('Enter');
  await expectTerminal(A, state.terminal, (screen) => lines(screen).includes(`before-42-${token}`), 'the output of a command before the restart');
  const pid = localHubPid(session.projectDir(state.projectId));
  if (pid === undefined) throw new Failure(`no local hub process serves ${session.projectDir(state.projectId)}`);
  process.kill(pid, 'SIGKILL');
  console.log(`  killed local hub ${pid}`);
  const notice = A.page.locator(`[data-testid="terminal"][data-terminal="${state.terminal}"] [data-testid="terminal-restarted"]`);
  await A.visible(notice, 'a notice that the terminal restarted', 20_000);
  const text = await notice.first().innerText();
  if (!/restarted at .+ because the project's server restarted/.test(text) || !text.includes('output and running programs are gone')) {
    throw new Failure(`the notice says ${show(text)}`);
  }
  // The new shell works.
  await A.click(A.page.locator(`[data-testid="terminal"][data-terminal="${state.terminal}"] .xterm`), 'focus the terminal');
  await A.type(`echo again-$((6*7))-${token}`, { delay: 0 });
  await A.page.keyboard.press('Enter');
  await expectTerminal(A, state.terminal, (screen) => lines(screen).includes(`again-42-${token}`), 'the output of a command in the new shell');
}, { timeoutMs: 45_000, needs: [1] });

await session.finish();

/** A and B both on `file`; B types, so A sees B's cursor. */
async function openTogether(file) {
  await A.openProject(state.projectId);
  if ((await A.fileEntry(file).count()) === 0) await A.createFile(file);
  await A.showFile(state.projectId, file);
  await B.showFile(state.projectId, file);
  await B.placeCursor(file, 'end');
  await B.type(` B-${token}`);
  await waitUntil(`A's editor to show what B typed`, () => A.editorText(file), (text) => text.includes(` B-${token}`), { timeoutMs: UI_MS });
  await A.visible(cursorOf(A, B, file), `B's cursor in A's editor`);
}

function cursorOf(viewer, who, file) {
  return viewer.editor(file).locator(`.remote-cursor[data-name="${who.name}"]`);
}

/**
 * Opens a new terminal with the file tree's button, as anyone would (naming it `name` should the app ask), and
 * returns its name.
 */
async function openTerminal(user, name) {
  const before = await user.byTestId('terminal').count();
  await user.click(user.byTestId('new-terminal'), 'open a new terminal');
  const terminals = user.byTestId('terminal');
  await user.visible(terminals.nth(before).or(user.byTestId('dialog-input')), 'a new terminal (or a dialog asking its name)');
  if (await user.byTestId('dialog-input').isVisible()) {
    await user.fill(user.byTestId('dialog-input'), name, 'name the terminal');
    await user.click(user.byTestId('dialog-ok'), 'confirm the terminal name');
  }
  const shown = user.page.locator('[data-testid="terminal"]:visible');
  await user.visible(shown, 'the new terminal');
  return shown.first().getAttribute('data-terminal');
}

/** `who`'s avatar in `viewer`'s header. */
function person(viewer, who) {
  return viewer.page.locator(`[data-testid="presence"] [data-testid="person"][data-name="${who.name}"]`);
}

function lines(screen) {
  return screen.split('\n').map((line) => line.trim());
}

/** Waits until `user`'s terminal `name` shows a screen that `accept` takes; returns that screen's text. */
async function expectTerminal(user, name, accept, what) {
  const rows = user.page.locator(`[data-testid="terminal"][data-terminal="${name}"] .xterm-rows`);
  const { value } = await waitUntil(
    `${user.who}'s terminal "${name}" to show ${what}`,
    async () => (await rows.first().innerText()).replaceAll('\u00a0', ' '),
    accept,
    { timeoutMs: UI_MS },
  );
  return value;
}

/** The pid of the local hub serving `projectDir`, from /proc. */
function localHubPid(projectDir) {
  for (const entry of fs.readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (args.includes('local-hub') && args[args.indexOf('--project') + 1] === projectDir) return pid;
    } catch {
      // Gone, or not ours to read.
    }
  }
  return undefined;
}
