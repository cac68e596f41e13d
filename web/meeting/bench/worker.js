// Runs bench/paired.js in a dedicated worker, where the media worker runs, and posts the rows.
import { measure } from './paired.js';

onmessage = async (e) => {
  try {
    postMessage({ rows: await measure(e.data.frames) });
  } catch (err) {
    postMessage({ error: String(err?.stack ?? err) });
  }
};
