// SPDX-License-Identifier: MIT
// fasthttp peer for the HTTP benchmark: GET /ping answers "pong" (text/plain), anything else 404.
package main

import (
	"fmt"
	"os"

	"github.com/valyala/fasthttp"
)

var pong = []byte("pong")

func handle(ctx *fasthttp.RequestCtx) {
	if string(ctx.Path()) != "/ping" {
		ctx.Error("404 page not found", fasthttp.StatusNotFound)
		return
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		ctx.Response.Header.Set("Allow", "GET, HEAD")
		ctx.Error("method not allowed", fasthttp.StatusMethodNotAllowed)
		return
	}
	ctx.SetContentType("text/plain")
	ctx.SetBody(pong)
}

func main() {
	addr := "127.0.0.1:8080"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	if err := fasthttp.ListenAndServe(addr, handle); err != nil {
		fmt.Fprintln(os.Stderr, "http_fasthttp:", err)
		os.Exit(1)
	}
}
