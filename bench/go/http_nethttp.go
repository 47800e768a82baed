// SPDX-License-Identifier: MIT
// net/http peer for the HTTP benchmark: GET /ping answers "pong" (text/plain), anything else 404.
package main

import (
	"fmt"
	"net/http"
	"os"
)

var pong = []byte("pong")

func handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/ping" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h["Content-Type"] = []string{"text/plain"}
	h["Content-Length"] = []string{"4"}
	w.Write(pong)
}

func main() {
	addr := "127.0.0.1:8080"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	if err := http.ListenAndServe(addr, http.HandlerFunc(handle)); err != nil {
		fmt.Fprintln(os.Stderr, "http_nethttp:", err)
		os.Exit(1)
	}
}
