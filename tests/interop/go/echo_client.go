// SPDX-License-Identifier: MIT
// Conformance driver for any server of kumo.test.Echo
// (proto/kumo/test/echo.proto), written on grpc-go: runs named checks and
// prints "ok NAME" or "FAIL NAME: why" for each, then "N passed, M failed";
// exits 1 if any failed.
//
// Usage: echo_client [-addr] HOST:PORT [-run REGEXP] [-list] [-timeout 30s]
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "kumo/testpb"
)

const (
	mib = 1 << 20
	// Above every message the checks exchange (4 MiB and a few bytes of
	// framing); grpc-go's own receive default is exactly 4 MiB.
	maxMsg = 64 * mib
	// How late an ended call may return and still count as prompt.
	prompt = 2 * time.Second
)

var (
	conn   *grpc.ClientConn
	client pb.EchoClient
)

type check struct {
	name string
	fn   func(ctx context.Context) error
}

// pattern returns n bytes that differ from their neighbours and from a
// shifted copy, so a lost, repeated or reordered chunk shows.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7+i/251) ^ seed
	}
	return b
}

func describe(b []byte) string {
	if len(b) <= 32 {
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("%d bytes %q...", len(b), b[:16])
}

func samePayload(got, want []byte) error {
	if bytes.Equal(got, want) {
		return nil
	}
	if len(got) != len(want) {
		return fmt.Errorf("payload is %d bytes, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			return fmt.Errorf("payload differs at byte %d of %d", i, len(got))
		}
	}
	return nil
}

// wantStatus checks err carries code and, unless msg is nil, exactly *msg.
func wantStatus(err error, code codes.Code, msg *string) error {
	if err == nil {
		return fmt.Errorf("call succeeded, want %v", code)
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("not a gRPC status: %v", err)
	}
	if st.Code() != code {
		return fmt.Errorf("status %v %s, want %v", st.Code(), short(st.Message()), code)
	}
	if msg != nil && st.Message() != *msg {
		return fmt.Errorf("message %s, want %s", short(st.Message()), short(*msg))
	}
	return nil
}

func str(s string) *string { return &s }

// short quotes s, cut to keep a failure on one readable line.
func short(s string) string {
	if len(s) > 60 {
		return fmt.Sprintf("%q... (%d bytes)", s[:60], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// ---- unary ----

func checkUnary(ctx context.Context) error {
	want := []byte("hello, kumo")
	r, err := client.Unary(ctx, &pb.EchoRequest{Payload: want})
	if err != nil {
		return err
	}
	if r.Index != 0 || r.Received != 0 || r.ReceivedBytes != 0 {
		return fmt.Errorf("unexpected fields in %v", r)
	}
	return samePayload(r.Payload, want)
}

func checkResponseSize(ctx context.Context) error {
	r, err := client.Unary(ctx, &pb.EchoRequest{Payload: []byte("x"), ResponseSize: 1000})
	if err != nil {
		return err
	}
	if len(r.Payload) != 1000 {
		return fmt.Errorf("payload is %d bytes, want 1000", len(r.Payload))
	}
	return nil
}

// An all-default message is zero bytes on the wire, both ways.
func checkEmpty(ctx context.Context) error {
	r, err := client.Unary(ctx, &pb.EchoRequest{})
	if err != nil {
		return err
	}
	if len(r.Payload) != 0 || r.Index != 0 || r.Received != 0 || r.ReceivedBytes != 0 {
		return fmt.Errorf("want an empty response, got %v", r)
	}
	return nil
}

func checkLargeRequest(ctx context.Context) error {
	r, err := client.Unary(ctx, &pb.EchoRequest{Payload: pattern(4*mib, 1), ResponseSize: 1})
	if err != nil {
		return err
	}
	if len(r.Payload) != 1 {
		return fmt.Errorf("payload is %d bytes, want 1", len(r.Payload))
	}
	return nil
}

func checkLargeResponse(ctx context.Context) error {
	r, err := client.Unary(ctx, &pb.EchoRequest{ResponseSize: 4 * mib})
	if err != nil {
		return err
	}
	if len(r.Payload) != 4*mib {
		return fmt.Errorf("payload is %d bytes, want %d", len(r.Payload), 4*mib)
	}
	return nil
}

func checkLargeEcho(ctx context.Context) error {
	want := pattern(4*mib, 2)
	r, err := client.Unary(ctx, &pb.EchoRequest{Payload: want})
	if err != nil {
		return err
	}
	return samePayload(r.Payload, want)
}

// ---- server streaming ----

// recvAll reads a server stream to its end: the responses and the status
// (nil for OK).
func recvAll(s pb.Echo_ServerStreamClient) ([]*pb.EchoResponse, error) {
	var out []*pb.EchoResponse
	for {
		r, err := s.Recv()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
}

func checkResponses(rs []*pb.EchoResponse, n int, payload []byte, size int) error {
	if len(rs) != n {
		return fmt.Errorf("%d responses, want %d", len(rs), n)
	}
	for i, r := range rs {
		if r.Index != int32(i) {
			return fmt.Errorf("response %d has index %d", i, r.Index)
		}
		if size > 0 {
			if len(r.Payload) != size {
				return fmt.Errorf("response %d is %d bytes, want %d", i, len(r.Payload), size)
			}
		} else if err := samePayload(r.Payload, payload); err != nil {
			return fmt.Errorf("response %d: %v", i, err)
		}
	}
	return nil
}

func serverStream(ctx context.Context, req *pb.EchoRequest) ([]*pb.EchoResponse, error) {
	s, err := client.ServerStream(ctx, req)
	if err != nil {
		return nil, err
	}
	return recvAll(s)
}

func checkServerStream(ctx context.Context) error {
	p := []byte("stream me")
	rs, err := serverStream(ctx, &pb.EchoRequest{Payload: p, Count: 5})
	if err != nil {
		return fmt.Errorf("after %d responses: %v", len(rs), err)
	}
	return checkResponses(rs, 5, p, 0)
}

func checkServerStreamEmpty(ctx context.Context) error {
	rs, err := serverStream(ctx, &pb.EchoRequest{Payload: []byte("none"), Count: 0})
	if err != nil {
		return err
	}
	return checkResponses(rs, 0, nil, 0)
}

// Flow control: 8 MiB in 1 MiB messages, past any initial window.
func checkServerStreamLarge(ctx context.Context) error {
	rs, err := serverStream(ctx, &pb.EchoRequest{Count: 8, ResponseSize: mib})
	if err != nil {
		return fmt.Errorf("after %d responses: %v", len(rs), err)
	}
	return checkResponses(rs, 8, nil, mib)
}

// Messages, then a non-OK status in the trailers.
func checkServerStreamError(ctx context.Context) error {
	p := []byte("then fail")
	msg := "stopped after three"
	rs, err := serverStream(ctx, &pb.EchoRequest{Payload: p, Count: 3,
		FailCode: int32(codes.FailedPrecondition), FailMessage: msg})
	if err := wantStatus(err, codes.FailedPrecondition, &msg); err != nil {
		return err
	}
	return checkResponses(rs, 3, p, 0)
}

// ---- client streaming ----

// sendAll sends reqs on a client stream; a server that ended the call early
// makes Send return io.EOF, and the status then comes from CloseAndRecv.
func sendAll(s pb.Echo_ClientStreamClient, reqs []*pb.EchoRequest) error {
	for _, r := range reqs {
		if err := s.Send(r); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
	return nil
}

func clientStream(ctx context.Context, reqs []*pb.EchoRequest) (*pb.EchoResponse, error) {
	s, err := client.ClientStream(ctx)
	if err != nil {
		return nil, err
	}
	if err := sendAll(s, reqs); err != nil {
		return nil, err
	}
	return s.CloseAndRecv()
}

func checkClientStream(ctx context.Context) error {
	var reqs []*pb.EchoRequest
	total := 0
	for i, n := range []int{0, 1, 10, 100, 1000, 10000, 100000, 5} {
		reqs = append(reqs, &pb.EchoRequest{Payload: pattern(n, byte(i))})
		total += n
	}
	r, err := clientStream(ctx, reqs)
	if err != nil {
		return err
	}
	if r.Received != int64(len(reqs)) || r.ReceivedBytes != int64(total) {
		return fmt.Errorf("received %d requests and %d bytes, want %d and %d",
			r.Received, r.ReceivedBytes, len(reqs), total)
	}
	return samePayload(r.Payload, reqs[len(reqs)-1].Payload)
}

func checkClientStreamEmpty(ctx context.Context) error {
	r, err := clientStream(ctx, nil)
	if err != nil {
		return err
	}
	if r.Received != 0 || r.ReceivedBytes != 0 || len(r.Payload) != 0 {
		return fmt.Errorf("want an empty response, got %v", r)
	}
	return nil
}

func checkClientStreamLarge(ctx context.Context) error {
	var reqs []*pb.EchoRequest
	for i := 0; i < 4; i++ {
		reqs = append(reqs, &pb.EchoRequest{Payload: pattern(mib, byte(i)), ResponseSize: 3})
	}
	r, err := clientStream(ctx, reqs)
	if err != nil {
		return err
	}
	if r.Received != 4 || r.ReceivedBytes != 4*mib || len(r.Payload) != 3 {
		return fmt.Errorf("got received=%d received_bytes=%d payload %d bytes, want 4, %d, 3",
			r.Received, r.ReceivedBytes, len(r.Payload), 4*mib)
	}
	return nil
}

func checkClientStreamError(ctx context.Context) error {
	msg := "third request refused"
	_, err := clientStream(ctx, []*pb.EchoRequest{
		{Payload: []byte("a")}, {Payload: []byte("b")},
		{FailCode: int32(codes.ResourceExhausted), FailMessage: msg},
		{Payload: []byte("never read")},
	})
	return wantStatus(err, codes.ResourceExhausted, &msg)
}

// ---- bidirectional ----

// Send one, receive its echo, several rounds; then half-close and see the
// server end the call with OK.
func bidiRounds(ctx context.Context, rounds, size int) error {
	s, err := client.Bidi(ctx)
	if err != nil {
		return err
	}
	for i := 0; i < rounds; i++ {
		p := []byte(fmt.Sprintf("round %d", i))
		if size > 0 {
			p = pattern(size, byte(i))
		}
		if err := s.Send(&pb.EchoRequest{Payload: p}); err != nil {
			return fmt.Errorf("send %d: %v", i, err)
		}
		r, err := s.Recv()
		if err != nil {
			return fmt.Errorf("recv %d: %v", i, err)
		}
		if r.Index != int32(i) {
			return fmt.Errorf("response %d has index %d", i, r.Index)
		}
		if err := samePayload(r.Payload, p); err != nil {
			return fmt.Errorf("response %d: %v", i, err)
		}
	}
	if err := s.CloseSend(); err != nil {
		return err
	}
	if r, err := s.Recv(); err != io.EOF {
		return fmt.Errorf("after half-close: got %v, %v; want the end of the stream", r, err)
	}
	return nil
}

func checkBidi(ctx context.Context) error      { return bidiRounds(ctx, 5, 0) }
func checkBidiLarge(ctx context.Context) error { return bidiRounds(ctx, 4, mib) }
func checkBidiEmpty(ctx context.Context) error { return bidiRounds(ctx, 0, 0) }

func checkBidiError(ctx context.Context) error {
	s, err := client.Bidi(ctx)
	if err != nil {
		return err
	}
	if err := s.Send(&pb.EchoRequest{Payload: []byte("fine")}); err != nil {
		return err
	}
	if _, err := s.Recv(); err != nil {
		return fmt.Errorf("first echo: %v", err)
	}
	msg := "bidi refused"
	if err := s.Send(&pb.EchoRequest{FailCode: int32(codes.PermissionDenied), FailMessage: msg}); err != nil && err != io.EOF {
		return err
	}
	_, err = s.Recv()
	return wantStatus(err, codes.PermissionDenied, &msg)
}

// Many streams at once on the connection, each interleaving its rounds.
func checkBidiConcurrent(ctx context.Context) error {
	return parallel(50, func(i int) error { return bidiRounds(ctx, 10, 100+i) })
}

// ---- deadlines and cancellation ----

func timed(f func() error) (time.Duration, error) {
	t0 := time.Now()
	err := f()
	return time.Since(t0), err
}

func checkDeadlineUnary(ctx context.Context) error {
	c, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	d, err := timed(func() error {
		_, err := client.Unary(c, &pb.EchoRequest{DelayMs: 60000})
		return err
	})
	if err := wantStatus(err, codes.DeadlineExceeded, nil); err != nil {
		return err
	}
	if d > prompt {
		return fmt.Errorf("returned after %v", d)
	}
	return afterwards(ctx)
}

func checkDeadlineServerStream(ctx context.Context) error {
	c, cancel := context.WithTimeout(ctx, 700*time.Millisecond)
	defer cancel()
	var rs []*pb.EchoResponse
	d, err := timed(func() error {
		var err error
		rs, err = serverStream(c, &pb.EchoRequest{Count: 100, DelayMs: 200})
		return err
	})
	if err := wantStatus(err, codes.DeadlineExceeded, nil); err != nil {
		return err
	}
	if d > prompt {
		return fmt.Errorf("returned after %v", d)
	}
	if len(rs) < 1 || len(rs) > 4 {
		return fmt.Errorf("%d responses before the deadline, want 1 to 4 (one per 200 ms in 700 ms)", len(rs))
	}
	return afterwards(ctx)
}

func checkCancelUnary(ctx context.Context) error {
	c, cancel := context.WithCancel(ctx)
	time.AfterFunc(200*time.Millisecond, cancel)
	d, err := timed(func() error {
		_, err := client.Unary(c, &pb.EchoRequest{DelayMs: 60000})
		return err
	})
	if err := wantStatus(err, codes.Canceled, nil); err != nil {
		return err
	}
	if d > prompt {
		return fmt.Errorf("returned after %v", d)
	}
	return afterwards(ctx)
}

// Cancel a server stream after a few messages: the client sees Canceled
// at once, and the server (which had more to send) goes on serving.
func checkCancelServerStream(ctx context.Context) error {
	c, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := client.ServerStream(c, &pb.EchoRequest{Payload: []byte("tick"), Count: 1000, DelayMs: 20})
	if err != nil {
		return err
	}
	for i := 0; i < 3; i++ {
		if _, err := s.Recv(); err != nil {
			return fmt.Errorf("recv %d: %v", i, err)
		}
	}
	cancel()
	t0 := time.Now()
	for n := 0; ; n++ {
		_, err := s.Recv()
		if err == nil {
			// Messages already received may still be handed over.
			if n > 100 || time.Since(t0) > prompt {
				return fmt.Errorf("still receiving after cancel (%d more)", n)
			}
			continue
		}
		if err := wantStatus(err, codes.Canceled, nil); err != nil {
			return err
		}
		break
	}
	return afterwards(ctx)
}

func checkCancelBidi(ctx context.Context) error {
	c, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := client.Bidi(c)
	if err != nil {
		return err
	}
	if err := s.Send(&pb.EchoRequest{Payload: []byte("one")}); err != nil {
		return err
	}
	if _, err := s.Recv(); err != nil {
		return err
	}
	// The server is now waiting for the next request, or sleeping on it.
	if err := s.Send(&pb.EchoRequest{DelayMs: 60000}); err != nil {
		return err
	}
	time.AfterFunc(100*time.Millisecond, cancel)
	d, err := timed(func() error { _, err := s.Recv(); return err })
	if err := wantStatus(err, codes.Canceled, nil); err != nil {
		return err
	}
	if d > prompt {
		return fmt.Errorf("returned after %v", d)
	}
	return afterwards(ctx)
}

// afterwards checks the server still answers on the same connection, a
// unary call and a stream, promptly: an ended call left nothing stuck.
func afterwards(ctx context.Context) error {
	c, cancel := context.WithTimeout(ctx, prompt)
	defer cancel()
	if _, err := client.Unary(c, &pb.EchoRequest{Payload: []byte("still there?")}); err != nil {
		return fmt.Errorf("the next call failed: %v", err)
	}
	rs, err := serverStream(c, &pb.EchoRequest{Payload: []byte("again"), Count: 3})
	if err != nil {
		return fmt.Errorf("the next stream failed: %v", err)
	}
	return checkResponses(rs, 3, []byte("again"), 0)
}

// ---- status codes and messages ----

func checkStatusCodes(ctx context.Context) error {
	var bad []string
	for c := codes.Code(1); c <= 16; c++ {
		msg := fmt.Sprintf("failing with %d (%v)", c, c)
		_, err := client.Unary(ctx, &pb.EchoRequest{FailCode: int32(c), FailMessage: msg})
		if err := wantStatus(err, c, &msg); err != nil {
			bad = append(bad, fmt.Sprintf("%d: %v", c, err))
		}
	}
	if bad != nil {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// grpc-message is percent-encoded UTF-8; these need it ('%', controls,
// non-ASCII) or look as if they were already encoded.
var statusMessages = []string{
	"100% sure: 50%25 is not %",
	"line one\nline two\r\n\ttabbed",
	"déjà vu ☃ 日本語 😀",
	"%e2%98%83 stays as typed",
	"  spaces at both ends  ",
	"",
	strings.Repeat("long message %\n", 200),
}

func checkStatusMessages(ctx context.Context) error {
	var bad []string
	for _, m := range statusMessages {
		_, err := client.Unary(ctx, &pb.EchoRequest{FailCode: int32(codes.InvalidArgument), FailMessage: m})
		if err := wantStatus(err, codes.InvalidArgument, str(m)); err != nil {
			bad = append(bad, err.Error())
		}
	}
	if bad != nil {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// A status on a stream with no message before it (a trailers-only answer).
func checkStatusServerStream(ctx context.Context) error {
	msg := "no such thing: ☃ 100%"
	rs, err := serverStream(ctx, &pb.EchoRequest{Count: 0, FailCode: int32(codes.NotFound), FailMessage: msg})
	if err := wantStatus(err, codes.NotFound, &msg); err != nil {
		return err
	}
	return checkResponses(rs, 0, nil, 0)
}

func checkUnknownMethod(ctx context.Context) error {
	for _, m := range []string{"/kumo.test.Echo/Nope", "/kumo.test.Nope/Unary", "/Nope/Nope"} {
		err := conn.Invoke(ctx, m, &pb.EchoRequest{}, &pb.EchoResponse{})
		if err := wantStatus(err, codes.Unimplemented, nil); err != nil {
			return fmt.Errorf("%s: %v", m, err)
		}
	}
	return nil
}

// ---- metadata ----

// sentMD is what each metadata check sends: ASCII and binary values, binary
// lengths 0 to 4 (every base64 padding case), a key sent twice, and keys
// that must not come back.
func sentMD() metadata.MD {
	return metadata.MD{
		"x-echo-ascii":       {"hello world !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"},
		"x-echo-multi":       {"first", "second"},
		"x-echo-data-bin":    {"\x00\x01\x02\xfe\xff\n\r"},
		"x-echo-pad-bin":     {"", "\x80", "\x80\x81", "\x80\x81\x82", "\x80\x81\x82\x83"},
		"x-trailer-ascii":    {"trailing value"},
		"x-trailer-data-bin": {"\xff\x00\xffbinary\x00"},
		"x-other":            {"not echoed"},
		"x-echo":             {"no dash after echo: not echoed"},
	}
}

// onlyX keeps the keys that start with "x-" (the rest is the transport's).
func onlyX(md metadata.MD) metadata.MD {
	out := metadata.MD{}
	for k, v := range md {
		if strings.HasPrefix(k, "x-") {
			out[k] = v
		}
	}
	return out
}

func withPrefix(md metadata.MD, p string) metadata.MD {
	out := metadata.MD{}
	for k, v := range md {
		if strings.HasPrefix(k, p) {
			out[k] = v
		}
	}
	return out
}

func mdString(md metadata.MD) string {
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%q ", k, md[k])
	}
	return strings.TrimSpace(b.String())
}

func sameMD(what string, got, want metadata.MD) error {
	if g, w := mdString(got), mdString(want); g != w {
		return fmt.Errorf("%s: got {%s}, want {%s}", what, g, w)
	}
	return nil
}

func checkEchoedMD(hdr, trl metadata.MD) error {
	sent := sentMD()
	if err := sameMD("headers", onlyX(hdr), withPrefix(sent, "x-echo-")); err != nil {
		return err
	}
	return sameMD("trailers", onlyX(trl), withPrefix(sent, "x-trailer-"))
}

func checkMetadataUnary(ctx context.Context) error {
	var hdr, trl metadata.MD
	c := metadata.NewOutgoingContext(ctx, sentMD())
	if _, err := client.Unary(c, &pb.EchoRequest{Payload: []byte("md")}, grpc.Header(&hdr), grpc.Trailer(&trl)); err != nil {
		return err
	}
	return checkEchoedMD(hdr, trl)
}

func checkMetadataServerStream(ctx context.Context) error {
	s, err := client.ServerStream(metadata.NewOutgoingContext(ctx, sentMD()), &pb.EchoRequest{Count: 2})
	if err != nil {
		return err
	}
	if _, err := recvAll(s); err != nil {
		return err
	}
	hdr, err := s.Header()
	if err != nil {
		return err
	}
	return checkEchoedMD(hdr, s.Trailer())
}

func checkMetadataClientStream(ctx context.Context) error {
	s, err := client.ClientStream(metadata.NewOutgoingContext(ctx, sentMD()))
	if err != nil {
		return err
	}
	if err := sendAll(s, []*pb.EchoRequest{{Payload: []byte("a")}, {Payload: []byte("b")}}); err != nil {
		return err
	}
	if _, err := s.CloseAndRecv(); err != nil {
		return err
	}
	hdr, err := s.Header()
	if err != nil {
		return err
	}
	return checkEchoedMD(hdr, s.Trailer())
}

func checkMetadataBidi(ctx context.Context) error {
	s, err := client.Bidi(metadata.NewOutgoingContext(ctx, sentMD()))
	if err != nil {
		return err
	}
	if err := s.Send(&pb.EchoRequest{Payload: []byte("md")}); err != nil {
		return err
	}
	if _, err := s.Recv(); err != nil {
		return err
	}
	hdr, err := s.Header()
	if err != nil {
		return err
	}
	s.CloseSend()
	if _, err := s.Recv(); err != io.EOF {
		return fmt.Errorf("after half-close: %v", err)
	}
	return checkEchoedMD(hdr, s.Trailer())
}

// A failing call still carries the echoed trailers. With no message sent, a
// server may answer trailers-only, so the "x-echo-" keys may arrive among
// the trailers rather than in separate headers; both are accepted.
func checkMetadataOnError(ctx context.Context) error {
	var hdr, trl metadata.MD
	c := metadata.NewOutgoingContext(ctx, sentMD())
	msg := "failed, with metadata"
	_, err := client.Unary(c, &pb.EchoRequest{FailCode: int32(codes.Unavailable), FailMessage: msg},
		grpc.Header(&hdr), grpc.Trailer(&trl))
	if err := wantStatus(err, codes.Unavailable, &msg); err != nil {
		return err
	}
	sent := sentMD()
	if err := sameMD("trailers (x-trailer-)", withPrefix(trl, "x-trailer-"), withPrefix(sent, "x-trailer-")); err != nil {
		return err
	}
	echo := withPrefix(hdr, "x-echo-")
	if len(echo) == 0 {
		echo = withPrefix(trl, "x-echo-")
	}
	return sameMD("x-echo- keys", echo, withPrefix(sent, "x-echo-"))
}

// ---- concurrency ----

func parallel(n int, f func(i int) error) error {
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := f(i); err != nil {
				errs <- fmt.Errorf("call %d: %v", i, err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	var bad []string
	for err := range errs {
		bad = append(bad, err.Error())
	}
	if nbad := len(bad); nbad > 0 {
		sort.Strings(bad)
		if nbad > 3 {
			bad = append(bad[:3], "...")
		}
		return fmt.Errorf("%d of %d failed: %s", nbad, n, strings.Join(bad, "; "))
	}
	return nil
}

func checkConcurrentUnary(ctx context.Context) error {
	return parallel(200, func(i int) error {
		p := []byte(fmt.Sprintf("call %d", i))
		r, err := client.Unary(ctx, &pb.EchoRequest{Payload: p, DelayMs: int64(i % 3)})
		if err != nil {
			return err
		}
		return samePayload(r.Payload, p)
	})
}

func checkSequentialUnary(ctx context.Context) error {
	for i := 0; i < 2000; i++ {
		p := []byte(fmt.Sprintf("call %d", i))
		r, err := client.Unary(ctx, &pb.EchoRequest{Payload: p})
		if err != nil {
			return fmt.Errorf("call %d: %v", i, err)
		}
		if err := samePayload(r.Payload, p); err != nil {
			return fmt.Errorf("call %d: %v", i, err)
		}
	}
	return nil
}

var checks = []check{
	{"unary", checkUnary},
	{"unary_response_size", checkResponseSize},
	{"empty_message", checkEmpty},
	{"large_request_4MiB", checkLargeRequest},
	{"large_response_4MiB", checkLargeResponse},
	{"large_echo_4MiB", checkLargeEcho},
	{"server_stream", checkServerStream},
	{"server_stream_zero", checkServerStreamEmpty},
	{"server_stream_8x1MiB", checkServerStreamLarge},
	{"server_stream_then_error", checkServerStreamError},
	{"client_stream", checkClientStream},
	{"client_stream_zero", checkClientStreamEmpty},
	{"client_stream_4x1MiB", checkClientStreamLarge},
	{"client_stream_error", checkClientStreamError},
	{"bidi", checkBidi},
	{"bidi_zero", checkBidiEmpty},
	{"bidi_4x1MiB", checkBidiLarge},
	{"bidi_error", checkBidiError},
	{"bidi_50_concurrent", checkBidiConcurrent},
	{"deadline_unary", checkDeadlineUnary},
	{"deadline_server_stream", checkDeadlineServerStream},
	{"cancel_unary", checkCancelUnary},
	{"cancel_server_stream", checkCancelServerStream},
	{"cancel_bidi", checkCancelBidi},
	{"status_codes", checkStatusCodes},
	{"status_messages", checkStatusMessages},
	{"status_trailers_only", checkStatusServerStream},
	{"unknown_method", checkUnknownMethod},
	{"metadata_unary", checkMetadataUnary},
	{"metadata_server_stream", checkMetadataServerStream},
	{"metadata_client_stream", checkMetadataClientStream},
	{"metadata_bidi", checkMetadataBidi},
	{"metadata_on_error", checkMetadataOnError},
	{"concurrent_200_unary", checkConcurrentUnary},
	{"sequential_2000_unary", checkSequentialUnary},
}

func main() {
	addr := flag.String("addr", "", "server address, host:port (required)")
	run := flag.String("run", "", "run only the checks whose name matches this regexp")
	list := flag.Bool("list", false, "print the check names and exit")
	timeout := flag.Duration("timeout", 30*time.Second, "time limit of each check")
	flag.Parse()
	if *addr == "" && flag.NArg() == 1 {
		*addr = flag.Arg(0)
	}

	if *list {
		for _, c := range checks {
			fmt.Println(c.name)
		}
		return
	}
	if *addr == "" {
		fmt.Fprintln(os.Stderr, "usage: echo_client [-addr] HOST:PORT [-run REGEXP] [-list] [-timeout D]")
		os.Exit(2)
	}
	filter, err := regexp.Compile(*run)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo_client: -run:", err)
		os.Exit(2)
	}

	dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	conn, err = grpc.DialContext(dctx, *addr, grpc.WithInsecure(), grpc.WithBlock(),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsg), grpc.MaxCallSendMsgSize(maxMsg)))
	cancel()
	if err != nil {
		fmt.Printf("FAIL connect: %s: %v\n0 passed, 1 failed\n", *addr, err)
		os.Exit(1)
	}
	defer conn.Close()
	client = pb.NewEchoClient(conn)

	passed, failed := 0, 0
	for _, c := range checks {
		if !filter.MatchString(c.name) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		done := make(chan error, 1)
		go func(c check) { done <- c.fn(ctx) }(c)
		var err error
		select {
		case err = <-done:
		case <-time.After(*timeout + time.Second):
			err = fmt.Errorf("no result in %v", *timeout)
		}
		cancel()
		if err != nil {
			failed++
			fmt.Printf("FAIL %s: %s\n", c.name, strings.ReplaceAll(err.Error(), "\n", `\n`))
		} else {
			passed++
			fmt.Printf("ok %s\n", c.name)
		}
	}
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if failed > 0 || passed == 0 {
		os.Exit(1)
	}
}
