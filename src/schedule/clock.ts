// Time comes from outside the scheduler: the real clock at the edge, a simulated one in
// `dispatch simulate` and in the engine's tests.
import { sleep } from '../util/sleep.js';

export interface Clock {
  now(): number;
  /**
   * Waits until `deadline` (ms since the epoch) or until something may have changed.
   * The real clock cannot know when a runner will write the state, so it also wakes at each poll;
   * a simulated clock jumps straight to the next thing that happens.
   */
  wait(deadline: number, signal: AbortSignal): Promise<void>;
}

export function realClock(pollMs = 150): Clock {
  return {
    now: () => Date.now(),
    wait: (deadline, signal) => sleep(Math.max(1, Math.min(pollMs, deadline - Date.now())), signal),
  };
}
