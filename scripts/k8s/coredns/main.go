// CoreDNS with only the plugins the test cluster's DNS uses, so that the first k8s:up builds in a
// fraction of the time of the full program (whose cloud plugins pull in large SDKs). The plugin
// order is CoreDNS's own (its plugin.cfg), which decides the order in which a query passes them.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/template"
)

func init() {
	dnsserver.Directives = []string{"bind", "ready", "health", "errors", "log", "cache", "template", "kubernetes"}
}

func main() { coremain.Run() }
