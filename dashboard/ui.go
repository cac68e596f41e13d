package dashboard

import (
	"embed"
	"io/fs"
	"net/http"
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
	files := http.StripPrefix("/ui/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
