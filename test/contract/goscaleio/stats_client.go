package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"time"
)

// statsClient reaches the pool's admin endpoint with the same TLS settings the gateway client was given.
func statsClient(insecure bool, caFile string) (*http.Client, error) {
	config := &tls.Config{InsecureSkipVerify: insecure} // #nosec G402 -- mirrors the client under test
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, errors.New("no certificate in " + caFile)
		}
		config.RootCAs = roots
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: config}}, nil
}
