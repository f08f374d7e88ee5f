/**
 * Writing a run archive in the format asked for (`--format`, or the file's extension):
 * JSON (one document, `RunArchive`) or SQLite (sqlite.ts). Both write beside the target
 * and rename into place.
 */
import { renameSync, rmSync, writeFileSync } from "node:fs";
import { extname } from "node:path";
import { UsageError } from "../errors/base.js";
import type { RunArchive } from "./archive.js";
import { writeSqliteArchive } from "./sqlite.js";

export const ARCHIVE_FORMATS = ["json", "sqlite"] as const;
export type ArchiveFormat = (typeof ARCHIVE_FORMATS)[number];

const BY_EXTENSION: Record<string, ArchiveFormat> = { ".json": "json", ".sqlite": "sqlite", ".sqlite3": "sqlite", ".db": "sqlite" };

/**
 * The format: the given one, else the one the file's extension names (.json, .sqlite, .sqlite3, .db).
 * @throws UsageError for an unknown format, or no format and an unknown extension
 */
export function archiveFormatOf(format: string | undefined, file: string, flag = "--format"): ArchiveFormat {
  if (format !== undefined) {
    if ((ARCHIVE_FORMATS as readonly string[]).includes(format)) return format as ArchiveFormat;
    throw new UsageError(`${flag} "${format}" is not an archive format; use ${ARCHIVE_FORMATS.join(" or ")}`);
  }
  const byExt = BY_EXTENSION[extname(file).toLowerCase()];
  if (byExt === undefined) throw new UsageError(`cannot tell the archive format of "${file}" from its extension; give ${flag} json or ${flag} sqlite (or name it .json / .sqlite)`);
  return byExt;
}

/**
 * Write `archive` to `file` as `format`, replacing the file.
 * @example
 * await writeArchive(archiveOf(runId, messages), "run.sqlite", "sqlite");
 */
export async function writeArchive(archive: RunArchive, file: string, format: ArchiveFormat): Promise<void> {
  if (format === "sqlite") return writeSqliteArchive(archive, file);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, `${JSON.stringify(archive, null, 2)}\n`);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
