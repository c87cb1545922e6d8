// Coalesces render work into animation frames: many socket events, one DOM write pass.
// Under a burst (1,000 ticks/s) handlers only store the newest payload and mark a key dirty; a
// frame then runs each dirty key's job once. A key may also ask for a minimum gap between runs
// (the book at ~12 Hz is as readable as at 60 Hz and costs a fifth of the paint).

/** A frame scheduler: mark(key, job, minGapMs) runs the newest job for key on a coming frame. */
export function createFrameScheduler() {
  const jobs = new Map();
  const waiting = new Map(); // key -> newest job, held until its minimum gap has passed
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
        console.error("render failed", key, err);
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
      if (timers.has(key)) {
        waiting.set(key, job);
        return;
      }
      const wait = minGap - (performance.now() - (lastRun.get(key) ?? -Infinity));
      if (wait <= 0) {
        request(key, job);
        return;
      }
      waiting.set(key, job);
      timers.set(
        key,
        setTimeout(() => {
          timers.delete(key);
          const newest = waiting.get(key);
          waiting.delete(key);
          if (newest) request(key, newest);
        }, wait),
      );
    },
    cancel() {
      if (handle) cancelAnimationFrame(handle);
      handle = 0;
      jobs.clear();
      waiting.clear();
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
    },
  };
}

const page = createFrameScheduler();

/**
 * Run fn on a coming animation frame (the page's panels share one scheduler); a later call
 * with the same key replaces the earlier. `minGap` caps how often that key runs, in ms.
 */
export function schedule(key, fn, minGap = 0) {
  page.mark(key, fn, minGap);
}
