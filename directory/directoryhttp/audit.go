package directoryhttp

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/geofence/geofence/audit"
	"github.com/geofence/geofence/internal/jsonapi"
	"github.com/geofence/geofence/wire"
)

// The evidence logs (DESIGN.md section 11) are publishable: anyone may read them, nobody
// may change them over HTTP. They are served from the folder the logs are written in, in the
// C2SP tlog-tiles layout:
//
//	GET /v1/audit                          {"regions": [...]}: the regions with a log
//	GET /v1/audit/vkeys                    the logs' signed-note verifier keys, one a line
//	GET /v1/audit/{region}/checkpoint      the region's latest signed checkpoint
//	GET /v1/audit/{region}/tile/...        its hash tiles and entry bundles
//
// Only those paths are served (never the private keys or tessera's state). Full tiles and
// bundles never change and are cacheable forever; the checkpoint is not cacheable.

// auditRegion is a region id that can name a log's folder: never "." or "..", nor keys/.
var auditRegion = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$`)

func (s *Server) auditRegions() []string {
	ents, err := os.ReadDir(s.cfg.AuditDir)
	if err != nil {
		return []string{}
	}
	out := []string{}
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(s.cfg.AuditDir, e.Name(), "checkpoint")); err == nil && e.IsDir() {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out
}

func (s *Server) auditIndex(w http.ResponseWriter, r *http.Request) {
	jsonapi.Write(w, http.StatusOK, map[string][]string{"regions": s.auditRegions()})
}

func (s *Server) auditVKeys(w http.ResponseWriter, r *http.Request) {
	s.serveAuditFile(w, r, filepath.Join(s.cfg.AuditDir, audit.VKeysFile), "no-cache")
}

func (s *Server) auditResource(w http.ResponseWriter, r *http.Request) {
	region, path := r.PathValue("region"), r.PathValue("path")
	if !auditRegion.MatchString(region) || region == "keys" || !audit.ValidPath(path) {
		fail(w, wire.CodeBadRequest, "want /v1/audit/{region}/checkpoint or /v1/audit/{region}/tile/... (C2SP tlog-tiles)")
		return
	}
	cache := "public, max-age=31536000, immutable"
	if path == "checkpoint" || strings.Contains(path, ".p/") {
		// A partial tile may be deleted once the full one exists; the checkpoint changes.
		cache = "no-cache"
	}
	s.serveAuditFile(w, r, filepath.Join(s.cfg.AuditDir, region, filepath.FromSlash(path)), cache)
}

func (s *Server) serveAuditFile(w http.ResponseWriter, r *http.Request, path, cache string) {
	b, err := os.ReadFile(path)
	if err != nil {
		fail(w, wire.CodeNotFound, "no such evidence log resource")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	if strings.HasSuffix(path, "checkpoint") || strings.HasSuffix(path, audit.VKeysFile) {
		h.Set("Content-Type", "text/plain; charset=utf-8")
	}
	h.Set("Cache-Control", cache)
	h.Set("Access-Control-Allow-Origin", "*")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}
