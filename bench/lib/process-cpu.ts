/**
 * CPU time of the processes a bench runs (nats-server, workers, this process), so a
 * bench can say where the time goes: on a 2-core machine a throughput bench is
 * CPU-bound, and CPU per task per process explains a ratio better than wall time.
 * Other processes are read from /proc (Linux); elsewhere their figures are absent.
 */
import { readFileSync } from "node:fs";

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ: 100 on every Linux that matters). */
const USER_HZ = 100;

/**
 * CPU seconds (user + system) used so far by `pid`, or undefined when it cannot be read.
 * This process is read with `process.cpuUsage()` (microsecond precision).
 * @example const before = cpuSeconds(server.pid);
 */
export function cpuSeconds(pid: number): number | undefined {
  if (pid === process.pid) {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after "(comm) ": state is field 3; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
  } catch {
    return undefined;
  }
}

/** CPU seconds of several processes, by name; a group (array of pids) is summed. */
export type CpuSnapshot = Record<string, number | undefined>;

/**
 * Snapshot the CPU seconds of named processes or process groups.
 * @example const s = snapshotCpu({ server: [serverPid], workers: workerPids });
 */
export function snapshotCpu(groups: Record<string, readonly number[]>): CpuSnapshot {
  const out: CpuSnapshot = {};
  for (const [name, pids] of Object.entries(groups)) {
    let total: number | undefined = 0;
    for (const pid of pids) {
      const s = cpuSeconds(pid);
      total = s === undefined || total === undefined ? undefined : total + s;
    }
    out[name] = total;
  }
  return out;
}

/** `after - before` per name, in ms; undefined where either side is missing. */
export function cpuDeltaMs(before: CpuSnapshot, after: CpuSnapshot): CpuSnapshot {
  const out: CpuSnapshot = {};
  for (const name of Object.keys(after)) {
    const a = after[name];
    const b = before[name];
    out[name] = a === undefined || b === undefined ? undefined : (a - b) * 1000;
  }
  return out;
}
