package dashboard

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/geofence/geofence/internal/httpserve"
)

// dist is the page, built from web/dashboard by scripts/build-dashboard.sh (npm ci and
// esbuild) and committed; TestBundleCurrent fails when it is out of date.
//
//go:embed dist
var dist embed.FS

// csp is the page's Content-Security-Policy: everything from the directory itself and nothing
// else, so the page can load nothing from anywhere else (no CDN, no fonts, no tiles).
const csp = "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// uiHandler serves dist under /ui/.
func uiHandler() http.Handler {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // dist is embedded: it exists
	}
	return httpserve.Static(csp, http.StripPrefix("/ui/", http.FileServerFS(sub)))
}
