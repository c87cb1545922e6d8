// Coalesces render work into one requestAnimationFrame: many socket events, one DOM write pass.
// Under a burst (1,000 ticks/s) handlers only store the newest payload and mark a key dirty; the
// frame then runs each dirty key's job once, which keeps every frame far below the 50 ms budget.

/** A frame scheduler: mark(key, job) runs job once on the next animation frame. */
export function createFrameScheduler() {
  const jobs = new Map();
  let handle = 0;

  function run() {
    handle = 0;
    const batch = [...jobs.values()];
    jobs.clear();
    for (const job of batch) {
      try {
        job();
      } catch (err) {
        console.error("market view render failed", err);
      }
    }
  }

  return {
    mark(key, job) {
      jobs.set(key, job);
      if (!handle) handle = requestAnimationFrame(run);
    },
    /** Run pending jobs now (used before tearing down or when a test needs a settled DOM). */
    flush() {
      if (handle) cancelAnimationFrame(handle);
      run();
    },
    cancel() {
      if (handle) cancelAnimationFrame(handle);
      handle = 0;
      jobs.clear();
    },
  };
}
