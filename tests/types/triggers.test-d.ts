import { expectTypeOf, test } from "vitest";
import { workflow, z } from "../../src/index.js";
import type { ScheduleOptions } from "../../src/index.js";

test("types - schedules are typed by the workflow's input", () => {
  const nightly = workflow("nightly", {
    version: "1",
    input: z.object({ full: z.boolean().default(false) }),
    schedules: [{ cron: "0 2 * * *", timezone: "Europe/Berlin", input: { full: true } }, { name: "quarter", every: "15m", catchUp: "skip" }],
    sources: [{ every: "60s", executor: "tickets/open", batch: 300 }],
  });
  expectTypeOf(nightly.options.schedules).toEqualTypeOf<readonly ScheduleOptions<{ full: boolean }>[] | undefined>();
  workflow("bad", {
    version: "1",
    input: z.object({ full: z.boolean() }),
    // @ts-expect-error the input must match the workflow's input schema
    schedules: [{ every: "1h", input: { full: "yes" } }],
  });
  // @ts-expect-error catchUp is one of "skip" | "latest" | "all"
  workflow("bad2", { version: "1", schedules: [{ every: "1h", catchUp: "never" }] });
  // @ts-expect-error a source executor is "namespace/name"
  workflow("bad3", { version: "1", sources: [{ every: "1m", executor: "nonamespace" }] });
});
