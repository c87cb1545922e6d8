// Coalesces render work into animation frames: many socket events, one DOM write pass.
// Under a burst (1,000 ticks/s) handlers only store the newest payload and mark a key dirty; a
// frame then runs each dirty key's job once. A key may also ask for a minimum gap between runs
// (the book at ~12 Hz is as readable as at 60 Hz and costs a fifth of the paint).

/** A frame scheduler: mark(key, job, minGapMs) runs job once on a coming animation frame. */
export function createFrameScheduler() {
  const jobs = new Map();
  const lastRun = new Map();
  const timers = new Map();
  let handle = 0;

  function run() {
    handle = 0;
    const now = performance.now();
    const batch = [...jobs.entries()];
    jobs.clear();
    for (const [key, job] of batch) {
      lastRun.set(key, now);
      try {
        job();
      } catch (err) {
        console.error("market view render failed", key, err);
      }
    }
  }

  function request(key, job) {
    jobs.set(key, job);
    if (!handle) handle = requestAnimationFrame(run);
  }

  return {
    mark(key, job, minGap = 0) {
      if (jobs.has(key)) {
        jobs.set(key, job);
        return;
      }
      if (timers.has(key)) return;
      const wait = minGap - (performance.now() - (lastRun.get(key) ?? -Infinity));
      if (wait <= 0) {
        request(key, job);
        return;
      }
      timers.set(
        key,
        setTimeout(() => {
          timers.delete(key);
          request(key, job);
        }, wait),
      );
    },
    cancel() {
      if (handle) cancelAnimationFrame(handle);
      handle = 0;
      jobs.clear();
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
    },
  };
}
