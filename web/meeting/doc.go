// Package meetingui holds the browser meeting client, bundled for the Go binary to serve: the
// meeting page (dist/index.html and dist/app.js, docs/meeting.md; its media encryption, src/page.js,
// starts the media worker and hands it the meeting's epoch keys as non-extractable
// CryptoKeys) and dist/worker.js (the RTCRtpScriptTransform worker that
// seals and opens every encoded frame under the media profile, docs/media-profile.md).
//
// The JavaScript sources live in src/ and are an npm project (package.json, pinned esbuild);
// scripts/build-web.sh runs npm ci and rebuilds dist/, which is committed. The tests here check
// that the committed bundle is what the sources build to, run the JavaScript tests (node's
// built-in runner), and check the JavaScript and Go (crypto/mediaprofile) implementations
// against each other both ways. They need node; without it they are skipped. The page's tests
// run it in headless Chromium against a dev stack (package devstack) on loopback.
//
// Handler serves the files to anyone, GET only: they hold no secret.
package meetingui
