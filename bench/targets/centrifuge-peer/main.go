// centrifuge-peer: the peer target of the benchmarks. It is a minimal Centrifugo-style server built
// on github.com/centrifugal/centrifuge, the Go library Centrifugo itself is built on (same client
// JSON protocol, hub, in-memory broker and WebSocket transport). The Centrifugo application module
// is not served by the Go module proxy this project can reach, so this stands in for it; see
// BENCHMARKS.md. It reads a Centrifugo-shaped JSON config (bench/targets/centrifugo.ts writes it):
//
//	{"http_server":{"address":"127.0.0.1","port":8000},
//	 "client":{"token":{"hmac_secret_key":"..."}},
//	 "channel":{"namespaces":[{"name":"personal","allow_subscribe_for_client":true,
//	                           "allow_publish_for_client":true,"allow_user_limited":true}]}}
//
// Clients connect to /connection/websocket with {"id":1,"connect":{"token":"<HS256 JWT, sub=user>"}}.
// A channel "<namespace>:<name>" follows its namespace's flags; with allow_user_limited a client may
// subscribe only to "<namespace>:<its own user id>" (the user's inbox), and publish to any channel of
// the namespace (client → channel → subscriber, no history).
package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/centrifugal/centrifuge"
)

type namespace struct {
	Name                    string `json:"name"`
	AllowSubscribeForClient bool   `json:"allow_subscribe_for_client"`
	AllowPublishForClient   bool   `json:"allow_publish_for_client"`
	AllowUserLimited        bool   `json:"allow_user_limited"`
}

type config struct {
	HTTPServer struct {
		Address string `json:"address"`
		Port    int    `json:"port"`
	} `json:"http_server"`
	Client struct {
		Token struct {
			HMACSecretKey string `json:"hmac_secret_key"`
		} `json:"token"`
	} `json:"client"`
	Channel struct {
		Namespaces []namespace `json:"namespaces"`
	} `json:"channel"`
}

// verify checks an HS256 JWT and returns its subject.
func verify(token string, key []byte) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", fmt.Errorf("malformed token")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		return "", fmt.Errorf("bad signature")
	}
	var header struct {
		Alg string `json:"alg"`
	}
	h, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(h, &header) != nil || header.Alg != "HS256" {
		return "", fmt.Errorf("unsupported token header")
	}
	var claims struct {
		Sub string `json:"sub"`
		Exp int64  `json:"exp"`
	}
	p, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(p, &claims) != nil || claims.Sub == "" {
		return "", fmt.Errorf("bad claims")
	}
	if claims.Exp != 0 && claims.Exp < time.Now().Unix() {
		return "", fmt.Errorf("token expired")
	}
	return claims.Sub, nil
}

func main() {
	configPath := flag.String("config", "config.json", "Centrifugo-shaped JSON config")
	flag.Parse()
	raw, err := os.ReadFile(*configPath)
	if err != nil {
		log.Fatal(err)
	}
	var cfg config
	if err := json.Unmarshal(raw, &cfg); err != nil {
		log.Fatalf("config: %v", err)
	}
	key := []byte(cfg.Client.Token.HMACSecretKey)
	namespaces := map[string]namespace{}
	for _, ns := range cfg.Channel.Namespaces {
		namespaces[ns.Name] = ns
	}
	lookup := func(channel string) (namespace, string, bool) {
		i := strings.IndexByte(channel, ':')
		if i < 0 {
			return namespace{}, "", false
		}
		ns, ok := namespaces[channel[:i]]
		return ns, channel[i+1:], ok
	}

	node, err := centrifuge.New(centrifuge.Config{LogLevel: centrifuge.LogLevelError,
		LogHandler: func(e centrifuge.LogEntry) { log.Printf("%s: %v", e.Message, e.Fields) }})
	if err != nil {
		log.Fatal(err)
	}
	node.OnConnecting(func(ctx context.Context, e centrifuge.ConnectEvent) (centrifuge.ConnectReply, error) {
		user, err := verify(e.Token, key)
		if err != nil {
			return centrifuge.ConnectReply{}, centrifuge.DisconnectInvalidToken
		}
		return centrifuge.ConnectReply{Credentials: &centrifuge.Credentials{UserID: user}}, nil
	})
	node.OnConnect(func(client *centrifuge.Client) {
		client.OnSubscribe(func(e centrifuge.SubscribeEvent, cb centrifuge.SubscribeCallback) {
			ns, name, ok := lookup(e.Channel)
			if !ok || !ns.AllowSubscribeForClient || (ns.AllowUserLimited && name != client.UserID()) {
				cb(centrifuge.SubscribeReply{}, centrifuge.ErrorPermissionDenied)
				return
			}
			cb(centrifuge.SubscribeReply{}, nil)
		})
		client.OnPublish(func(e centrifuge.PublishEvent, cb centrifuge.PublishCallback) {
			ns, _, ok := lookup(e.Channel)
			if !ok || !ns.AllowPublishForClient {
				cb(centrifuge.PublishReply{}, centrifuge.ErrorPermissionDenied)
				return
			}
			cb(centrifuge.PublishReply{}, nil)
		})
	})
	if err := node.Run(); err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/connection/websocket", centrifuge.NewWebsocketHandler(node, centrifuge.WebsocketConfig{
		CheckOrigin: func(*http.Request) bool { return true },
	}))
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) })
	addr := net.JoinHostPort(cfg.HTTPServer.Address, fmt.Sprint(cfg.HTTPServer.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s\n", ln.Addr().String())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
		<-sigs
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = node.Shutdown(ctx)
		_ = srv.Shutdown(ctx)
		os.Exit(0)
	}()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
