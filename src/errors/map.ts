/** Errors of map nodes (`state.map`): a bad item list, too many failed instances. */
import { PhaseflowError } from "./base.js";

/** `items(input)` threw or returned something other than an array: the map node fails, with no retry. */
export class MapItemsError extends PhaseflowError {
  readonly taskId: string;
  constructor(taskId: string, problem: string, options: { cause?: unknown } = {}) {
    super("MAP_ITEMS_FAILED", `map "${taskId}": items(input) ${problem}; make items return an array for every input the map can receive`, { cause: options.cause, retryable: false });
    this.taskId = taskId;
  }
}

/** More instances of a map failed than its `toleratedFailures` allows. */
export class MapFailedError extends PhaseflowError {
  readonly taskId: string;
  readonly failed: number;
  readonly count: number;
  readonly tolerated: number;
  constructor(taskId: string, failed: number, count: number, tolerated: number, first: { id: string; code: string; message: string }) {
    super(
      "MAP_FAILED",
      `map "${taskId}": ${failed} of ${count} instances failed, ${tolerated} tolerated (first: "${first.id}" [${first.code}] ${first.message}); fix the executor or its items, or raise toleratedFailures`,
      { retryable: false },
    );
    this.taskId = taskId;
    this.failed = failed;
    this.count = count;
    this.tolerated = tolerated;
  }
}
