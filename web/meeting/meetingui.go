package meetingui

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/geofence/geofence/internal/httpserve"
)

// The bundled files, relative to FS.
const (
	// WorkerScript is the media worker, to be started as a module worker.
	WorkerScript = "worker.js"
	// AppScript is the meeting page's script, which index.html loads.
	AppScript = "app.js"
	// Page is the meeting page.
	Page = "index.html"
)

// PagePath is where the servers mount Handler: the directory of `geofence dev` and every DC
// agent serve the meeting page at /meet/.
const PagePath = "/meet/"

//go:embed dist
var dist embed.FS

// FS returns the bundled files: Page, AppScript and WorkerScript.
func FS() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // "dist" is a valid path that go:embed guarantees exists
	}
	return sub
}

// csp confines the page: its own scripts and worker only, no plugin, no frame; it may connect
// to any server (the directory, key servers and media DCs are other origins) and plays its
// own media streams.
const csp = "default-src 'none'; script-src 'self'; worker-src 'self'; style-src 'unsafe-inline'; " +
	"connect-src 'self' http: https: ws: wss:; media-src 'self' blob: mediastream:; img-src 'self' data:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the bundled files to anyone (they hold no secret and no key: every key is
// made or fetched by the page itself), with a Content-Security-Policy that confines the page.
// GET and HEAD only. Mount it with http.StripPrefix, e.g. at PagePath.
func Handler() http.Handler {
	return httpserve.Static(csp, http.FileServerFS(FS()))
}
