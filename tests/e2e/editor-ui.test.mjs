#!/usr/bin/env node
// The editor a student never has to think about: focus goes where they type next, rename moves a file into new
// folders, messages quote names exactly, a missing file's address says so, Python indents by 4 (and a file keeps its
// own indentation), a phone-wide screen reaches every control, and error pop-ups cover no control. Each step is a
// finding of the outside testing, which failed on the code before it was fixed.
//
// usage: node tests/e2e/editor-ui.test.mjs [--orrery PATH] [--chromium PATH] [--out DIR]

import fs from 'node:fs';
import path from 'node:path';

import { Failure, show, waitUntil } from './harness.mjs';
import { Session, UI_MS } from './ui.mjs';

const session = await Session.create('editor-ui', { totalMs: 170_000 });
const { token } = session;
const state = { projectId: undefined };
let A;

await session.start();

await session.step(1, 'A signs up and creates a project', async () => {
  A = await session.user('A');
  await A.signUp();
  state.projectId = await A.createProject(`Editor ${token}`);
  await A.openProject(state.projectId);
}, { timeoutMs: 30_000, needs: [0] });

await session.step(2, 'typing right after creating a file lands in the new file, not on the "File" button', async () => {
  // Before: the focus went back to the "File" button, so the space pressed it and the rest named another new file.
  await A.click(A.byTestId('new-file'), 'ask for a new file');
  await A.fill(A.byTestId('dialog-input'), 'first.py', 'type the new file name');
  await A.click(A.byTestId('dialog-ok'), 'create the file');
  await waitUntil('the new-file dialog to close', () => A.byTestId('dialog-input').count(), (count) => count === 0, { timeoutMs: UI_MS });
  // At once, as a person does: no waiting for the editor to appear.
  const typed = 'print("typed right after creating")';
  await A.type(typed, { delay: 15 });
  await A.expectEditor('first.py', typed, 'what was typed right after creating it');
  await session.expectFile(state.projectId, 'first.py', typed, 'what was typed');
  const dialogs = await A.byTestId('dialog-input').count();
  if (dialogs !== 0) throw new Failure('a dialog opened while typing: a key pressed a button');
  const files = fs.readdirSync(session.projectDir(state.projectId)).filter((name) => !name.startsWith('.'));
  if (files.join(',') !== 'first.py') throw new Failure(`the project should hold only first.py, it holds ${show(files)}`);
}, { timeoutMs: 30_000, needs: [1] });

await session.step(3, 'Python indents by 4 after "def f():", and a file indented by 2 keeps 2', async () => {
  await freshPage();
  writeAsTheProject('indent.py', 'print("indent")\n');
  await openByAddress('indent.py');
  await A.placeCursor('indent.py', 'end');
  await A.type('def f():\nreturn 1');
  const expected = 'print("indent")\ndef f():\n    return 1';
  // Before: 2 spaces.
  await A.expectEditor('indent.py', expected, 'the body indented by 4 spaces (PEP 8)');
  await session.expectFile(state.projectId, 'indent.py', expected, 'the body indented by 4 spaces');

  writeAsTheProject('two.py', 'def g():\n  if True:\n    pass\n');
  await openByAddress('two.py');
  await A.placeCursor('two.py', 'end');
  await A.type('def h():\nreturn 2');
  await session.expectFile(state.projectId, 'two.py', 'def g():\n  if True:\n    pass\ndef h():\n  return 2', "the file's own 2 spaces");
}, { timeoutMs: 30_000, needs: [1] });

await session.step(4, 'renaming to data/notes.txt makes the folder data/ and moves the file there, its tab following', async () => {
  await freshPage();
  writeAsTheProject('moving.py', 'print("moving")\n');
  await openByAddress('moving.py');
  // Before: "That file or folder does not exist".
  await renameInTree('moving.py', 'data/notes.txt');
  await waitUntil('the rename dialog to close', () => A.byTestId('dialog-input').count(), (count) => count === 0, { timeoutMs: UI_MS }).catch(async (error) => {
    const said = await A.page.locator('.dialog [data-testid="error"]').allInnerTexts();
    throw new Failure(`${error.message}; the dialog says ${show(said.join(' | '))}`);
  });
  await session.expectFile(state.projectId, 'data/notes.txt', 'print("moving")\n', 'the moved file');
  if (session.readFile(state.projectId, 'moving.py') !== undefined) throw new Failure('moving.py is still there after the move');
  await A.visible(A.fileEntry('data/notes.txt'), 'data/notes.txt in the file tree');
  await A.visible(A.editor('data/notes.txt').locator('.cm-content'), 'the open tab following the file to data/notes.txt');
  if (await A.page.locator('[data-testid="tab"][data-path="moving.py"]').count()) throw new Failure('a tab of moving.py is still open');
}, { timeoutMs: 30_000, needs: [1] });

await session.step(5, 'renaming onto an existing hello.py says "hello.py already exists", the name exactly as typed', async () => {
  await freshPage();
  writeAsTheProject('hello.py', 'print("hello")\n');
  writeAsTheProject('other.py', 'print("other")\n');
  await waitUntil('hello.py and other.py in the file tree', () => A.page.locator('[data-testid="file-entry"][data-path$=".py"]').evaluateAll((rows) => rows.map((row) => row.dataset.path)), (names) => names.includes('hello.py') && names.includes('other.py'), { timeoutMs: UI_MS });
  await renameInTree('other.py', 'hello.py');
  const message = A.page.locator('.dialog [data-testid="error"]');
  await A.visible(message, 'the dialog saying the name is taken');
  const text = await message.first().innerText();
  await session.screenshots('step-5-message');
  // Before: "Hello.py already exists".
  if (!text.startsWith('hello.py already exists')) throw new Failure(`the dialog says ${show(text)}, not "hello.py already exists…"`);
  await A.click(A.byTestId('dialog-cancel'), 'cancel the rename');
  // Closing the dialog gives the focus back to where it came from: the file's row, drawn again meanwhile or not.
  await waitUntil(
    'the focus back on the row of other.py',
    () => A.page.evaluate(() => document.activeElement?.closest('[data-testid="file-entry"]')?.getAttribute('data-path') ?? document.activeElement?.tagName),
    (focused) => focused === 'other.py',
    { timeoutMs: UI_MS },
  );
  if (session.readFile(state.projectId, 'hello.py')?.toString() !== 'print("hello")\n') throw new Failure('hello.py changed');
  if (session.readFile(state.projectId, 'other.py')?.toString() !== 'print("other")\n') throw new Failure('other.py changed');
}, { timeoutMs: 30_000, needs: [1] });

await session.step(6, "a missing file's address says it does not exist and offers to create it; never \"Saved\"", async () => {
  await freshPage();
  await A.goto(`#/p/${state.projectId}/f/nope.txt`);
  const missing = A.editor('nope.txt').getByTestId('missing-file');
  // Before: an empty editor marked "Saved", for a file that was not on disk.
  await A.visible(missing, 'the pane saying nope.txt does not exist');
  const said = await missing.innerText();
  if (!said.includes('nope.txt does not exist')) throw new Failure(`the pane says ${show(said)}`);
  await session.screenshots('step-6-missing');
  const badge = A.editor('nope.txt').getByTestId('sync-state');
  if (await badge.isVisible()) throw new Failure(`the pane still shows a sync state: ${show(await badge.innerText())}`);
  if (session.readFile(state.projectId, 'nope.txt') !== undefined) throw new Failure('opening the address made the file');
  await A.click(A.editor('nope.txt').getByTestId('create-missing'), 'create nope.txt from the pane');
  await A.visible(A.editor('nope.txt').locator('.cm-content'), 'the editor of the new nope.txt');
  await session.expectFile(state.projectId, 'nope.txt', '', 'an empty new file');
  await A.placeCursor('nope.txt', 'end');
  await A.type('now it exists');
  await session.expectFile(state.projectId, 'nope.txt', 'now it exists', 'what was typed into it');
}, { timeoutMs: 30_000, needs: [1] });

await session.step(7, 'a binary file: the pane says so without an "Offline" badge, and the error pop-up covers no tab or button', async () => {
  await freshPage();
  writeAsTheProject('data.bin', Buffer.from([0, 1, 2, 3, 0xff, 0xfe, 0, 0]));
  await A.goto(`#/p/${state.projectId}/f/data.bin`);
  const toast = A.page.locator('.toasts [data-testid="error"]');
  await A.visible(toast, 'the error pop-up about data.bin');
  await A.visible(A.editor('data.bin').locator('.pane-message'), 'the pane saying data.bin is not text');
  await A.expectConnection('connected', UI_MS);
  const badge = A.editor('data.bin').getByTestId('sync-state');
  if (await badge.isVisible()) throw new Failure(`the pane shows the sync state ${show(await badge.innerText())} beside the message`);
  await expectUncovered(A, toast);
}, { timeoutMs: 30_000, needs: [1] });

await session.step(8, 'at 390 px wide (a phone) the History button and every other control are on screen and work', async () => {
  writeAsTheProject('phone.py', 'print("small screen")\n');
  writeAsTheProject('data.bin', Buffer.from([0, 1, 2, 3, 0xff, 0xfe, 0, 0]));
  // A on a phone: the same account, signed in on a second, narrow browser.
  const P = await session.user('P', { viewport: { width: 390, height: 844 } });
  await A.page.context().storageState().then((stored) => P.page.context().addCookies(stored.cookies));
  await P.goto(`#/p/${state.projectId}/f/phone.py`);
  await P.visible(P.editor('phone.py').locator('.cm-content'), 'the editor of phone.py');
  const history = P.editor('phone.py').getByTestId('history-button');
  await expectOnScreen(P, history, 'the History button');
  for (const id of ['new-file', 'new-folder', 'upload', 'new-terminal', 'sign-out', 'connection-state']) {
    await expectOnScreen(P, P.byTestId(id), id);
  }
  await expectOnScreen(P, P.page.locator('[data-testid="tab"]').first(), 'the first tab');
  await P.click(history, 'open the history');
  await P.visible(P.page.locator('.history-panel'), 'the history panel');
  await session.screenshots('step-8-history');
  // An error pop-up on a phone covers no control either.
  await P.goto(`#/p/${state.projectId}/f/data.bin`);
  const toast = P.page.locator('.toasts [data-testid="error"]');
  await P.visible(toast, 'the error pop-up about data.bin');
  await session.screenshots('step-8-toast');
  await expectUncovered(P, toast);
}, { timeoutMs: 40_000, needs: [1] });

await session.finish();

/** Loads the page again, so a step starts clean whatever the one before it left open (a dialog, a menu). */
async function freshPage() {
  await A.page.reload();
  await A.visible(A.byTestId('account-name'), 'the page after a reload');
}

/** Opens a file by its address and waits until it is open and saved. */
async function openByAddress(file) {
  await A.goto(`#/p/${state.projectId}/f/${encodeURIComponent(file)}`);
  await A.visible(A.editor(file).locator('.cm-content'), `the editor of ${file}`);
  await waitUntil(
    `A's editor of ${file} to finish opening`,
    () => A.editor(file).getByTestId('sync-state').first().getAttribute('data-state'),
    (value) => value === 'saved',
    { timeoutMs: UI_MS },
  );
}

/** Renames with the file tree's rename action (shown when the row is hovered). */
async function renameInTree(from, to) {
  const row = A.fileEntry(from);
  await A.visible(row, `${from} in the file tree`);
  await row.first().hover();
  await A.click(row.getByTestId('entry-rename'), `ask to rename ${from}`);
  await A.fill(A.byTestId('dialog-input'), to, `type ${to}`);
  await A.click(A.byTestId('dialog-ok'), `rename ${from} to ${to}`);
}

/** Writes a file into the project as the project's own user would (owned like the project's directory). */
function writeAsTheProject(name, content) {
  const dir = session.projectDir(state.projectId);
  const target = path.join(dir, name);
  fs.writeFileSync(target, content);
  const owner = fs.statSync(dir);
  fs.chownSync(target, owner.uid, owner.gid);
}

/** The element is inside the window, whole, and the topmost thing at its centre (nothing covers it). */
async function expectOnScreen(user, locator, what) {
  await user.visible(locator, what);
  const seen = await locator.first().evaluate((element) => {
    const box = element.getBoundingClientRect();
    const top = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
    return {
      box: { left: box.left, top: box.top, right: box.right, bottom: box.bottom },
      window: { width: window.innerWidth, height: window.innerHeight },
      onTop: top !== null && (top === element || element.contains(top)),
    };
  });
  const { box, window } = seen;
  if (box.left < 0 || box.top < 0 || box.right > window.width + 0.5 || box.bottom > window.height + 0.5) {
    throw new Failure(`${what} is cut off: it spans ${show(box)} in a ${window.width}×${window.height} window`);
  }
  if (!seen.onTop) throw new Failure(`${what} is covered by something else`);
}

/** The pop-up overlaps no control: no button, tab, link or field, nor the header, the tab bar or a pane's toolbar. */
async function expectUncovered(user, toast) {
  const covered = await toast.first().evaluate((element) => {
    const box = element.getBoundingClientRect();
    const overlaps = (other) => {
      const r = other.getBoundingClientRect();
      return r.width > 0 && r.height > 0 && r.left < box.right && r.right > box.left && r.top < box.bottom && r.bottom > box.top;
    };
    const controls = document.querySelectorAll('button, a, input, [role="tab"], .tab-bar, .app-header, .pane-toolbar, .sidebar-toolbar');
    return [...controls]
      .filter((other) => !element.contains(other) && overlaps(other))
      .map((other) => other.dataset.testid ?? other.className ?? other.tagName);
  });
  if (covered.length > 0) throw new Failure(`${user.who}'s error pop-up covers ${show(covered)}`);
}
