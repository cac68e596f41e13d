// Runs bench/paired.js in a dedicated worker, where the media worker runs, and posts the rows
// (or, with parts set, measureParts' split of one frame's cost).
import { measure, measureParts } from './paired.js';

onmessage = async (e) => {
  try {
    if (e.data.parts) postMessage({ parts: await measureParts(e.data.frames) });
    else postMessage({ rows: await measure(e.data.frames) });
  } catch (err) {
    postMessage({ error: String(err?.stack ?? err) });
  }
};
