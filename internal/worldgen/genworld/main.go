// Command genworld prints a random world config, for benchmarks and load tests:
//
//	go run ./internal/worldgen/genworld -datacenters 1000 -regions 20 -plans 10 > big.yaml
package main

import (
	"flag"
	"math/rand/v2"
	"os"

	"github.com/geofence/geofence/internal/worldgen"
)

func main() {
	var o worldgen.Options
	flag.IntVar(&o.Regions, "regions", 20, "regions")
	flag.IntVar(&o.Plans, "plans", 10, "plans")
	flag.IntVar(&o.Datacenters, "datacenters", 1000, "datacenters")
	flag.IntVar(&o.Rules, "rules", 10, "residency rules")
	flag.IntVar(&o.Accounts, "accounts", 100, "accounts")
	flag.IntVar(&o.ListLen, "list", 50, "maximum routing list length")
	seed := flag.Uint64("seed", 1, "random seed")
	clean := flag.Bool("clean", true, "write a world without residency errors")
	flag.Parse()
	o.Clean = *clean
	os.Stdout.Write(worldgen.World(rand.New(rand.NewPCG(*seed, 0)), o))
}
