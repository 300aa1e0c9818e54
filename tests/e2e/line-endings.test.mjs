#!/usr/bin/env node
// Files exactly as on disk: two users edit files with Windows (CRLF), classic Mac (CR) and mixed line endings, a
// UTF-8 BOM, tabs and trailing blanks in the browser, and the file on disk ends byte for byte as both typed: only the
// typed characters change, every other byte stays. (Outside testing found CRLF files corrupted: each CR before an edit
// moved it one place left.)
//
// usage: node tests/e2e/line-endings.test.mjs [--orrery PATH] [--chromium PATH] [--out DIR]

import fs from 'node:fs';
import path from 'node:path';

import { Failure, show, waitUntil } from './harness.mjs';
import { Session, UI_MS } from './ui.mjs';

const session = await Session.create('line-endings', { totalMs: 170_000 });
const { token } = session;
const state = { projectId: undefined };
let A;
let B;

await session.start();

await session.step(1, 'A and B sign up; A creates a project and invites B', async () => {
  A = await session.user('A');
  B = await session.user('B');
  await Promise.all([A.signUp(), B.signUp()]);
  state.projectId = await A.createProject(`Line endings ${token}`);
  await A.invite(state.projectId, B);
}, { timeoutMs: 40_000, needs: [0] });

await session.step(2, 'a CRLF file made in the terminal, edited by both: the file keeps every CRLF and gets exactly what was typed', async () => {
  // As the outside tester did: printf in the project's terminal.
  await A.goto(`#/p/${state.projectId}`);
  await A.visible(A.byTestId('file-tree'), 'the file tree');
  await A.click(A.byTestId('new-terminal'), 'open a terminal');
  if (await A.byTestId('dialog-input').isVisible().catch(() => false)) await A.click(A.byTestId('dialog-ok'), 'accept the terminal name');
  const terminal = A.byTestId('terminal').first();
  await A.visible(terminal, 'the terminal');
  await A.click(terminal, 'focus the terminal');
  await A.type("printf 'line1\\r\\nline2\\r\\nline3\\r\\n' > crlf.txt", { delay: 0 });
  await A.page.keyboard.press('Enter');
  await session.expectFile(state.projectId, 'crlf.txt', 'line1\r\nline2\r\nline3\r\n', 'what printf wrote', UI_MS);

  await Promise.all([openByAddress(A, 'crlf.txt'), openByAddress(B, 'crlf.txt')]);
  await A.expectEditor('crlf.txt', 'line1\nline2\nline3\n', 'the three lines');
  // A at the end of line 2, B at the end of line 3 (line 2 in B's keys: Ctrl+Home, Down, Down, End), at once.
  await A.placeCursor('crlf.txt', 'end of second line');
  await B.placeCursor('crlf.txt', 'start');
  for (const key of ['ArrowDown', 'ArrowDown', 'End']) await B.page.keyboard.press(key);
  await Promise.all([A.type('-EDITED', { delay: 20 }), B.type(' (fixed)', { delay: 20 })]);
  const expected = 'line1\r\nline2-EDITED\r\nline3 (fixed)\r\n';
  await session.expectFile(state.projectId, 'crlf.txt', expected, 'both edits, every CRLF kept');
  await A.expectEditor('crlf.txt', 'line1\nline2-EDITED\nline3 (fixed)\n', 'both edits');
  await B.expectEditor('crlf.txt', 'line1\nline2-EDITED\nline3 (fixed)\n', 'both edits');

  // Enter in a Windows file makes a Windows line break; Backspace at a line's start removes the whole break.
  await A.placeCursor('crlf.txt', 'end of first line');
  await A.type('\nnew line');
  await session.expectFile(state.projectId, 'crlf.txt', 'line1\r\nnew line\r\nline2-EDITED\r\nline3 (fixed)\r\n', 'a new CRLF line');
  await A.page.keyboard.press('Home');
  await A.page.keyboard.press('Backspace');
  await session.expectFile(state.projectId, 'crlf.txt', 'line1new line\r\nline2-EDITED\r\nline3 (fixed)\r\n', 'the break removed whole');

  // After a reload everyone sees what is on disk.
  await B.page.reload();
  await B.expectEditor('crlf.txt', 'line1new line\nline2-EDITED\nline3 (fixed)\n', 'the file as it is on disk, after a reload');
}, { timeoutMs: 60_000, needs: [1] });

/** Files as people bring them, each edited by A then B; the bytes that must result. */
const FILES = [
  {
    name: 'mac.txt',
    bytes: 'first\rsecond\rthird\r',
    shows: 'first\nsecond\nthird\n',
    result: 'first\rsecond-A\rthird-B\r',
  },
  {
    name: 'mixed.txt',
    bytes: 'unix\nwindows\r\nmac\rlast',
    shows: 'unix\nwindows\nmac\nlast',
    result: 'unix\nwindows-A\r\nmac-B\rlast',
  },
  {
    name: 'bom.txt',
    bytes: '\uFEFFWindows \u00e9t\u00e9\r\n\tindented  \r\nend\r\n',
    shows: 'Windows \u00e9t\u00e9\n\tindented  \nend\n',
    result: '\uFEFFWindows \u00e9t\u00e9\r\n\tindented  -A\r\nend-B\r\n',
  },
  {
    name: 'emoji.txt',
    bytes: '\u{1F469}\u200D\u{1F469}\u200D\u{1F467} family\r\n\u{1F1EB}\u{1F1F7} e\u0301t\u00e9\r\n\u{1D4B3}\r\n',
    shows: '\u{1F469}\u200D\u{1F469}\u200D\u{1F467} family\n\u{1F1EB}\u{1F1F7} e\u0301t\u00e9\n\u{1D4B3}\n',
    result: '\u{1F469}\u200D\u{1F469}\u200D\u{1F467} family\r\n\u{1F1EB}\u{1F1F7} e\u0301t\u00e9-A\r\n\u{1D4B3}-B\r\n',
  },
];

await session.step(3, 'CR, mixed, BOM with tabs and trailing blanks, emoji: each file ends with exactly what was typed', async () => {
  for (const file of FILES) writeAsTheProject(file.name, file.bytes);
  for (const file of FILES) {
    await Promise.all([openByAddress(A, file.name), openByAddress(B, file.name)]);
    await A.expectEditor(file.name, file.shows, 'the file as it is');
    await B.expectEditor(file.name, file.shows, 'the file as it is');
    await A.placeCursor(file.name, 'end of second line');
    await A.type('-A');
    await B.placeCursor(file.name, 'start');
    for (const key of ['ArrowDown', 'ArrowDown', 'End']) await B.page.keyboard.press(key);
    await B.type('-B');
    await session.expectFile(state.projectId, file.name, file.result, `${file.name} with both edits and nothing else changed`);
  }
}, { timeoutMs: 60_000, needs: [1] });

await session.finish();

/** Opens a file by its address, as a bookmark or a restored tab does, and waits for its editor. */
async function openByAddress(user, file) {
  await user.goto(`#/p/${state.projectId}/f/${encodeURIComponent(file)}`);
  await user.visible(user.editor(file).locator('.cm-content'), `the editor of ${file}`);
  await waitUntil(
    `${user.who}'s editor of ${file} to finish opening`,
    () => user.editor(file).getByTestId('sync-state').first().getAttribute('data-state'),
    (value) => value === 'saved',
    { timeoutMs: UI_MS },
  );
}

/** Writes a file into the project as the project's own user would (owned like the project's directory). */
function writeAsTheProject(name, text) {
  const dir = session.projectDir(state.projectId);
  const target = path.join(dir, name);
  fs.writeFileSync(target, text, 'utf8');
  const owner = fs.statSync(dir);
  fs.chownSync(target, owner.uid, owner.gid);
  const back = fs.readFileSync(target, 'utf8');
  if (back !== text) throw new Failure(`could not write ${target}: it holds ${show(back)}`);
}
