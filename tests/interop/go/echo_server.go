// SPDX-License-Identifier: MIT
// The grpc-go server of kumo.test.Echo (proto/kumo/test/echo.proto): the
// peer kumo's gRPC client is checked against and the baseline kumo's server
// is benchmarked against.
//
// Usage: echo_server [-listen 127.0.0.1:0] [-max-recv BYTES] [-max-send BYTES]
// Once it listens it prints the port alone on a line of stdout. SIGTERM or
// SIGINT stop it gracefully (calls in flight get 2 s). Nothing is logged per
// call: the benchmark measures this program.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "kumo/testpb"
)

type echoServer struct{}

// wait sleeps for the request's delay, unless the call ends first (client
// cancel, deadline, connection gone); then it returns the call's status.
func wait(ctx context.Context, ms int64) error {
	if ms <= 0 {
		return nil
	}
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}

func failure(req *pb.EchoRequest) error {
	if req.FailCode == 0 {
		return nil
	}
	return status.Error(codes.Code(uint32(req.FailCode)), req.FailMessage)
}

func answer(req *pb.EchoRequest, index int32) *pb.EchoResponse {
	r := &pb.EchoResponse{Payload: req.Payload, Index: index}
	if req.ResponseSize > 0 {
		r.Payload = make([]byte, req.ResponseSize)
	}
	return r
}

// echoed splits the request metadata into what goes back in the headers
// ("x-echo-*") and in the trailers ("x-trailer-*"); nil when none. grpc-go
// has already decoded "-bin" values and encodes them again on the way out,
// so the bytes come back as they were sent.
func echoed(ctx context.Context) (hdr, trl metadata.MD) {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return nil, nil
	}
	for k, v := range md {
		switch {
		case strings.HasPrefix(k, "x-echo-"):
			if hdr == nil {
				hdr = metadata.MD{}
			}
			hdr[k] = v
		case strings.HasPrefix(k, "x-trailer-"):
			if trl == nil {
				trl = metadata.MD{}
			}
			trl[k] = v
		}
	}
	return hdr, trl
}

func (echoServer) Unary(ctx context.Context, req *pb.EchoRequest) (*pb.EchoResponse, error) {
	hdr, trl := echoed(ctx)
	if hdr != nil {
		grpc.SetHeader(ctx, hdr)
	}
	if trl != nil {
		grpc.SetTrailer(ctx, trl)
	}
	if err := wait(ctx, req.DelayMs); err != nil {
		return nil, err
	}
	if err := failure(req); err != nil {
		return nil, err
	}
	return answer(req, 0), nil
}

// streamMetadata sets the echoed headers (sent with the first message, or
// with the status when there is none) and trailers of a streaming call.
func streamMetadata(s grpc.ServerStream) {
	hdr, trl := echoed(s.Context())
	if hdr != nil {
		s.SetHeader(hdr)
	}
	if trl != nil {
		s.SetTrailer(trl)
	}
}

func (echoServer) ServerStream(req *pb.EchoRequest, s pb.Echo_ServerStreamServer) error {
	streamMetadata(s)
	ctx := s.Context()
	for i := int32(0); i < req.Count; i++ {
		if err := wait(ctx, req.DelayMs); err != nil {
			return err
		}
		if err := s.Send(answer(req, i)); err != nil {
			return err
		}
	}
	return failure(req)
}

func (echoServer) ClientStream(s pb.Echo_ClientStreamServer) error {
	streamMetadata(s)
	ctx := s.Context()
	var n, bytes int64
	last := &pb.EchoRequest{}
	for {
		req, err := s.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		n++
		bytes += int64(len(req.Payload))
		if err := wait(ctx, req.DelayMs); err != nil {
			return err
		}
		if err := failure(req); err != nil {
			return err
		}
		last = req
	}
	r := answer(last, 0)
	r.Received, r.ReceivedBytes = n, bytes
	return s.SendAndClose(r)
}

func (echoServer) Bidi(s pb.Echo_BidiServer) error {
	streamMetadata(s)
	ctx := s.Context()
	for i := int32(0); ; i++ {
		req, err := s.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := wait(ctx, req.DelayMs); err != nil {
			return err
		}
		if err := failure(req); err != nil {
			return err
		}
		if err := s.Send(answer(req, i)); err != nil {
			return err
		}
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (host:port; port 0 picks one)")
	maxRecv := flag.Int("max-recv", 16<<20, "largest message accepted, bytes (grpc-go's default is 4 MiB)")
	maxSend := flag.Int("max-send", 16<<20, "largest message sent, bytes")
	flag.Parse()

	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo_server:", err)
		os.Exit(1)
	}
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(*maxRecv), grpc.MaxSendMsgSize(*maxSend))
	pb.RegisterEchoServer(srv, echoServer{})

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	stopped := make(chan struct{})
	go func() {
		<-sig
		go func() {
			time.Sleep(2 * time.Second)
			srv.Stop()
		}()
		srv.GracefulStop()
		close(stopped)
	}()

	fmt.Println(lis.Addr().(*net.TCPAddr).Port)
	if err := srv.Serve(lis); err != nil {
		fmt.Fprintln(os.Stderr, "echo_server:", err)
		os.Exit(1)
	}
	<-stopped // Serve returns as the listener closes; the calls drain here
}
