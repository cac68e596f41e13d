package cli

import (
	"log/slog"

	"context"
	"errors"
	"fmt"
	"github.com/geofence/geofence/directory/configsync"
	"github.com/prometheus/client_golang/prometheus"
	"path/filepath"
	"time"

	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/diff"
	"github.com/geofence/geofence/directory/etcdstore"
	"github.com/geofence/geofence/explain"
	"github.com/geofence/geofence/verify"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// runConfig is `geofence config push FILE --etcd URL,...`: verify a config and, only if it
// verifies (and, with --fail-on-widen, widens nothing against the stored one), store it for
// every process of the deployment to pick up (DESIGN.md sections 6 and 9).
func runConfig(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "config", "push FILE --etcd URL,... [--etcd-prefix P] [--fail-on-widen]")
	etcdURLs := fs.String("etcd", "", "comma-separated etcd client URLs of the deployment's store (required)")
	prefix := fs.String("etcd-prefix", etcdstore.DefaultPrefix, "the key prefix of the deployment's state in etcd")
	failOnWiden := fs.Bool("fail-on-widen", false, "refuse the push when any user could newly reach a country compared with the stored config")
	pos, err := parse(fs, args)
	if err != nil {
		return flagErr(err)
	}
	if len(pos) != 2 || pos[0] != "push" {
		return usageErr(env, fs, "want: config push FILE")
	}
	if *etcdURLs == "" {
		return usageErr(env, fs, "--etcd is required")
	}
	path := pos[1]
	yaml, err := config.ReadFile(path)
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence config: %v\n", err)
		return ExitUsage
	}
	name := filepath.Base(path)
	c, errs := config.Parse(name, yaml)
	rep, m := verify.Config(c, errs, verify.Options{})
	if !rep.OK || m == nil {
		writeErrors(env, rep)
		fmt.Fprintf(env.Stderr, "geofence config: %s does not verify: not pushed\n", path)
		return ExitFinding
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: explain.SplitList(*etcdURLs), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return usageErr(env, fs, "--etcd: %v", err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	store := etcdstore.New(cli, *prefix)
	prev, err := store.Config(ctx)
	switch {
	case errors.Is(err, etcdstore.ErrNoConfig):
	case err != nil:
		fmt.Fprintf(env.Stderr, "geofence config: %v\n", err)
		return ExitFinding
	case prev.Digest == etcdstore.Digest(yaml):
		fmt.Fprintf(env.Stdout, "%s is the config in force already (digest %s, revision %d)\n", path, prev.Digest, prev.Revision)
		return ExitOK
	case *failOnWiden:
		pc, perrs := config.Parse(prev.Name, prev.YAML)
		prep, pm := verify.Config(pc, perrs, verify.Options{})
		if pm == nil {
			fmt.Fprintf(env.Stderr, "geofence config: the stored config cannot be modelled; compare by hand\n")
			return ExitFinding
		}
		cmp := diff.Compare(prep, pm, rep, m)
		if cmp.Blocked() {
			diff.WriteText(env.Stderr, &cmp.Result)
			fmt.Fprintf(env.Stderr, "geofence config: %s widens what users can reach against the stored config (revision %d): not pushed\n", path, prev.Revision)
			return ExitFinding
		}
	}
	rec, err := store.PushConfig(ctx, etcdstore.ConfigRecord{Name: name, YAML: yaml, Pushed: time.Now().UTC()}, prev.Revision)
	if err != nil {
		fmt.Fprintf(env.Stderr, "geofence config: %v (compare again and retry)\n", err)
		return ExitFinding
	}
	fmt.Fprintf(env.Stdout, "pushed %s: digest %s, revision %d; every process verifies it again before serving it\n", path, rec.Digest, rec.Revision)
	return ExitOK
}

// watchPushedConfig keeps target on the config pushed to the store at urls (configsync: every
// push verified here before it is served) until ctx is done or stop is called.
func watchPushedConfig(ctx context.Context, urls, prefix string, target configsync.Target, reg prometheus.Registerer, log *slog.Logger) (stop func(), err error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: explain.SplitList(urls), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, err
	}
	sync, err := configsync.New(etcdstore.New(cli, prefix), target, reg, log)
	if err != nil {
		cli.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	go sync.Run(ctx)
	return func() { cancel(); cli.Close() }, nil
}
