// Package loadtest is `geofence loadtest` (DESIGN.md section 6, section 8): synthetic
// participants that join a meeting through the directory with the client SDK, as real
// clients do (tickets, key servers, failover and residency are the real ones), publish
// synthetic media encrypted with the media profile, subscribe to each other and report how it
// went: the setup phases, one-way latency, loss, decrypt failures and the tracks withheld.
//
// The media is synthetic but has the layout the media server and the media profile look at:
// a video frame starts with a real VP8 frame header (RFC 6386 section 9.1) whose key-frame bit
// and, for a key frame, start code and dimensions are right, at the chosen bit rate and frame
// rate with a key frame at a fixed interval; an audio frame is 20 ms of Opus-sized payload
// behind a real TOC byte (RFC 6716 section 3.1). After that codec header, which the media
// profile keeps in clear, each frame carries a magic, its sequence number and its send time
// (see [Frame]); that part is what SFrame encrypts, so a subscriber learns a frame's one-way
// latency and the frames it lost only by decrypting it.
//
// The pieces are separate so that each is tested alone: [VideoSource] and [AudioSource] make
// frames, a [Profile] seals and opens them (package mediaprofile's, [MediaProfile]), an
// [Assembler] puts received VP8 packets back into frames, a [Recorder] turns received frames
// into the figures of a [Report], and [Run] drives the participants through a [Dialer]
// ([SFUDialer]: the media server's signalling client, package sfuclient). docs/loadtest.md is
// the command's manual.
//
// What it is not: it is not a media engine (no codec runs, frames are padding behind their
// headers), and it does not judge the figures: the report says what was measured, targets
// belong to docs/benchmarks.md.
package loadtest
