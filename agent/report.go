package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/geofence/geofence/wire"
)

// reportLoop reports at once, then every ReportInterval, until ctx is done.
func (a *Agent) reportLoop(ctx context.Context) {
	t := time.NewTicker(a.cfg.ReportInterval)
	defer t.Stop()
	failing := false
	for {
		// A report may take at most an interval: a directory that hangs must not make the
		// reports pile up.
		rctx, cancel := context.WithTimeout(ctx, a.cfg.ReportInterval)
		err := a.report(rctx, true)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			failing = true
			a.log.Warn("load report failed; the directory will mark this datacenter down after its stale_after", "err", err)
		case err != nil && ctx.Err() == nil:
			a.log.Debug("load report failed", "err", err)
		case err == nil && failing:
			failing = false
			a.log.Info("load reports reach the directory again")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// report sends one load report: the sessions open now, expired ones dropped first.
func (a *Agent) report(ctx context.Context, healthy bool) error {
	n := int64(a.Participants())
	rep := wire.LoadReport{Participants: &n, Healthy: &healthy}
	if a.media != nil {
		l := a.media.Load()
		rep.Media = &l
	}
	err := a.sendReport(ctx, rep)
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	a.metrics.reports.WithLabelValues(outcome).Inc()
	return err
}

func (a *Agent) sendReport(ctx context.Context, rep wire.LoadReport) error {
	body, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("send load report: %w", err)
	}
	u := strings.TrimRight(a.cfg.Directory, "/") + "/v1/datacenters/" + url.PathEscape(a.cfg.ID) + "/load"
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("send load report: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if a.cfg.Credential != "" {
		req.Header.Set("Authorization", "Bearer "+a.cfg.Credential)
	}
	resp, err := a.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("send load report: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("send load report to %s: %s: %s", u, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}
