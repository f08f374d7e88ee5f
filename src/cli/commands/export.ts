/**
 * `phaseflow export <runId> --nats URL --out FILE [--format json|sqlite]`: write a run's
 * whole stored history and the record folded from it to an archive file (README "Run
 * archives"). It reads the history straight from the run's stream, so it needs no
 * coordinator and works on running runs too (the archive then shows them running). Values
 * stored as payloads (over 256 KB) are written resolved.
 */
import { archiveOf } from "../../archive/archive.js";
import { archiveFormatOf, writeArchive } from "../../archive/write.js";
import { UsageError } from "../../errors/base.js";
import { createClient } from "../fleet-client.js";
import { defineCommand } from "../command.js";
import { EXIT_OK } from "../exit-codes.js";
import { NATS_FLAGS, natsFlagsText, natsOptionsFrom } from "../nats-flags.js";
import { resolve } from "node:path";

export const exportCommand = defineCommand({
  name: "export",
  summary: "Write a run's history and record to a JSON or SQLite archive",
  usage: "<runId> --nats URL --out FILE [--format json|sqlite]",
  details: "The format defaults from the file's extension (.json; .sqlite, .sqlite3 or .db). SQLite archives need the better-sqlite3 package.",
  flags: {
    ...NATS_FLAGS,
    out: { type: "string", valueName: "FILE", description: "the archive file to write (replaced if it exists)" },
    format: { type: "string", valueName: "FORMAT", description: "json (one document) or sqlite (tables runs, states, tasks, attempts, events)" },
  },
  positionals: { min: 1, max: 1, missing: "missing the run id, e.g. phaseflow export run_0abc --nats nats://127.0.0.1:4222 --out run.sqlite" },
  async run({ values, positionals }, io) {
    if (values.nats === undefined) throw new UsageError("missing --nats URL (run histories live in NATS)");
    if (values.out === undefined) throw new UsageError("missing --out FILE, e.g. --out run.json or --out run.sqlite");
    const runId = positionals[0]!;
    const file = resolve(io.cwd ?? process.cwd(), values.out);
    const format = archiveFormatOf(values.format, file);
    const client = await createClient(natsOptionsFrom(values));
    try {
      const { messages } = await client.transport.readHistory(runId);
      if (messages.length === 0) {
        throw new UsageError(`no stored history of run "${runId}": check the id and --prefix (phaseflow status ${natsFlagsText(values)}); finished runs are pruned after their retention`);
      }
      // The archive holds values, not payload references: it must read without the fleet's payload store.
      const archive = archiveOf(runId, await client.transport.payloads.resolve(messages));
      await writeArchive(archive, file, format);
      io.stdout.write(`exported run ${runId} (${archive.record.status}, ${archive.record.tasks.length} tasks, ${messages.length} stored messages) to ${values.out} as ${format}\n`);
      if (archive.parent !== undefined) io.stdout.write(`  a child run of run ${archive.parent}\n`);
      // Each child has its own history and archive: named here so they can be exported too.
      if (archive.children.length > 0) io.stdout.write(`  child runs (${archive.children.length}, in the archive's "children"): ${archive.children.join(" ")}\n`);
      return EXIT_OK;
    } finally {
      await client.close();
    }
  },
});
