package browsertest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDOMAndScreenshot opens a page whose script writes into its body: the DOM shows what
// the script wrote, and the screenshot is a PNG.
func TestDOMAndScreenshot(t *testing.T) {
	dir := t.TempDir()
	page := filepath.Join(dir, "page.html")
	html := `<!doctype html><html><body><p id="out">before</p>
<script>document.getElementById("out").textContent = "written by " + "the script";</script></body></html>`
	if err := os.WriteFile(page, []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
	dom := DOM(t, "file://"+page, time.Second)
	if !strings.Contains(dom, "written by the script") {
		t.Fatalf("DOM lacks the script's text:\n%s", dom)
	}
	png := filepath.Join(dir, "shot.png")
	Screenshot(t, "file://"+page, png, 400, 300)
	b, err := os.ReadFile(png)
	if err != nil || len(b) < 8 || string(b[1:4]) != "PNG" {
		t.Fatalf("screenshot is not a PNG (%d bytes, %v)", len(b), err)
	}
}
