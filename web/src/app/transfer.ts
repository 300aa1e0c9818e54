/** Downloads to the user's computer, and uploads from it, through the project's file service. */

import type { FilesSession } from "../net/files";
import { formatBytes } from "./dom";
import { describeError } from "./errors";
import { showError, showInfo } from "./toast";

/** Fetches a file and hands it to the browser as a download. */
export async function downloadFile(files: FilesSession, path: string): Promise<void> {
  try {
    const blob = await files.download(path);
    const url = URL.createObjectURL(blob);
    const link = document.createElement("a");
    link.href = url;
    link.download = path.split("/").pop() ?? "download";
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (error) {
    showError(`Could not download ${path}: ${describeError(error)}`);
  }
}

/** Uploads files into `folder` ("" for the project's top); reports progress through `status`. */
export async function uploadFiles(files: FilesSession, folder: string, chosen: File[], status: (text: string | undefined) => void): Promise<void> {
  let done = 0;
  for (const file of chosen) {
    const path = folder === "" ? file.name : `${folder}/${file.name}`;
    try {
      await files.upload(path, file, (sent, total) => {
        status(`Uploading ${file.name}: ${formatBytes(sent)} of ${formatBytes(total)}`);
      });
      done++;
    } catch (error) {
      showError(`Could not upload ${file.name}: ${describeError(error)}`);
    }
  }
  status(undefined);
  if (done > 0) showInfo(done === 1 ? `Uploaded ${chosen[0]!.name}` : `Uploaded ${done} files`);
}
