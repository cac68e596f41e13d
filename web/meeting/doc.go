// Package meetingui holds the browser meeting client's media encryption, bundled for the Go
// binary to serve: dist/meeting.js (the page side, which starts the media worker and hands it
// the meeting's epoch keys as non-extractable CryptoKeys) and dist/worker.js (the
// RTCRtpScriptTransform worker that seals and opens every encoded frame under the media
// profile, docs/media-profile.md).
//
// The JavaScript sources live in src/ and are an npm project (package.json, pinned esbuild);
// scripts/build-web.sh runs npm ci and rebuilds dist/, which is committed. The tests here check
// that the committed bundle is what the sources build to, run the JavaScript tests (node's
// built-in runner), and check the JavaScript and Go (crypto/mediaprofile) implementations
// against each other both ways. They need node; without it they are skipped.
//
// It is not an HTTP handler: whoever serves the files decides who may fetch them.
package meetingui
