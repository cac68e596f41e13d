package meetingui

import (
	"embed"
	"io/fs"
)

// The bundled files, relative to FS.
const (
	// PageScript is the page side: an ES module exporting MediaEncryption.
	PageScript = "meeting.js"
	// WorkerScript is the media worker, to be started as a module worker.
	WorkerScript = "worker.js"
)

//go:embed dist
var dist embed.FS

// FS returns the bundled files: PageScript and WorkerScript.
func FS() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // "dist" is a valid path that go:embed guarantees exists
	}
	return sub
}
