// LLM-API-shaped calls through Go's crypto/tls, for the integration tests
// of tollgate's Go probes (standard library only).
//
//	go_llm -url URL [-n N] [-stream] [-h1] [-ca CAFILE] [-body JSON]
//	       [-header 'K: V']... [-delay-ms MS] [-parallel P]
//
// POSTs the body N times on one http.Client (keep-alive: one connection,
// HTTP/2 when the server offers h2 through ALPN, HTTP/1.1 with -h1).  With
// -parallel P, P goroutines share the client: concurrent streams on one h2
// connection (the first call runs alone, to set it up).  One JSON line per call on stdout,
//
//	{"i":0,"status":200,"proto":"HTTP/2.0","bytes":123,"usage":{...}}
//
// where usage is the X-Test-Usage response header parsed as JSON (null when
// absent) and "error" is added when the call failed; then
//
//	{"pid":PID,"calls":N,"ok":K}
//
// A call is ok when it got a 2xx response and read its whole body.  Exits 1
// when a call failed, 2 on bad usage.
//
// Build: GOPROXY=off CGO_ENABLED=0 go build -trimpath -o go_llm main.go
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

const defaultBody = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello from go"}]}`
const defaultStreamBody = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello from go"}],"stream":true,"stream_options":{"include_usage":true}}`

type headerList []string

func (h *headerList) String() string { return strings.Join(*h, ", ") }

func (h *headerList) Set(v string) error {
	k, _, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("want 'Key: value', got %q", v)
	}
	*h = append(*h, v)
	return nil
}

type result struct {
	I      int             `json:"i"`
	Status int             `json:"status"`
	Proto  string          `json:"proto"`
	Bytes  int64           `json:"bytes"`
	Usage  json.RawMessage `json:"usage"`
	Error  string          `json:"error,omitempty"`
}

type summary struct {
	Pid   int `json:"pid"`
	Calls int `json:"calls"`
	Ok    int `json:"ok"`
}

var outMu sync.Mutex

func emit(v interface{}) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"error":"json"}`)
	}
	outMu.Lock()
	os.Stdout.Write(append(b, '\n'))
	outMu.Unlock()
}

func newClient(caFile string, h1 bool) (*http.Client, error) {
	cfg := &tls.Config{}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	tr := &http.Transport{
		TLSClientConfig:     cfg,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	if h1 {
		// A non-nil empty map turns net/http's HTTP/2 off; ALPN offers
		// http/1.1 alone.
		cfg.NextProtos = []string{"http/1.1"}
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	} else {
		// A custom TLSClientConfig turns net/http's HTTP/2 off unless forced.
		tr.ForceAttemptHTTP2 = true
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}, nil
}

func call(c *http.Client, i int, url, body string, headers headerList) result {
	r := result{I: i, Usage: json.RawMessage("null")}
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		r.Error = err.Error()
		return r
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer sk-test-go")
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := c.Do(req)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer resp.Body.Close()
	r.Status = resp.StatusCode
	r.Proto = resp.Proto
	if u := resp.Header.Get("X-Test-Usage"); u != "" && json.Valid([]byte(u)) {
		r.Usage = json.RawMessage(u)
	}
	r.Bytes, err = io.Copy(io.Discard, resp.Body)
	if err != nil {
		r.Error = err.Error()
	} else if resp.StatusCode < 200 || resp.StatusCode > 299 {
		r.Error = resp.Status
	}
	return r
}

func main() {
	var headers headerList
	url := flag.String("url", "", "URL to POST to (required)")
	n := flag.Int("n", 1, "number of calls")
	stream := flag.Bool("stream", false, `ask for a stream ("stream":true with include_usage) unless -body is given`)
	h1 := flag.Bool("h1", false, "HTTP/1.1 only (no h2 in ALPN)")
	caFile := flag.String("ca", "", "PEM file of the CA to trust")
	body := flag.String("body", "", "request body (JSON)")
	delayMs := flag.Int("delay-ms", 0, "sleep before the first call (ms)")
	parallel := flag.Int("parallel", 1, "goroutines sharing the client")
	flag.Var(&headers, "header", "extra request header 'Key: value' (repeatable)")
	flag.Parse()
	if *url == "" || *n < 0 || *parallel < 1 || *delayMs < 0 || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	b := *body
	if b == "" {
		b = defaultBody
		if *stream {
			b = defaultStreamBody
		}
	}
	c, err := newClient(*caFile, *h1)
	if err != nil {
		fmt.Fprintln(os.Stderr, "go_llm:", err)
		os.Exit(2)
	}
	if *delayMs > 0 {
		time.Sleep(time.Duration(*delayMs) * time.Millisecond)
	}

	var wg, first sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	next := make(chan int)
	first.Add(1)
	for p := 0; p < *parallel; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r := call(c, i, *url, b, headers)
				emit(r)
				if r.Error == "" {
					mu.Lock()
					ok++
					mu.Unlock()
				}
				if i == 0 {
					first.Done()
				}
			}
		}()
	}
	for i := 0; i < *n; i++ {
		next <- i
		if i == 0 && *parallel > 1 && !*h1 {
			// Let the first call set up the connection alone: racing
			// first requests would each dial before h2 is known.
			first.Wait()
		}
	}
	close(next)
	wg.Wait()
	emit(summary{Pid: os.Getpid(), Calls: *n, Ok: ok})
	if ok != *n {
		os.Exit(1)
	}
}
