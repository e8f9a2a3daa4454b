// A Go client (golang.org/x/crypto/ssh, as go-git and most Go tools use) for the end-to-end
// tests: go-exec PORT KEYFILE COMMAND. Prints the command's stdout, exits with its status, or
// 255 with the error when login fails.
package main

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/crypto/ssh"
)

func main() {
	port, keyFile, command := os.Args[1], os.Args[2], os.Args[3]
	pem, err := os.ReadFile(keyFile)
	if err != nil {
		fail(err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		fail(err)
	}
	client, err := ssh.Dial("tcp", "127.0.0.1:"+port, &ssh.ClientConfig{
		User:            "paas",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
	})
	if err != nil {
		fail(err)
	}
	session, err := client.NewSession()
	if err != nil {
		fail(err)
	}
	session.Stdout = os.Stdout
	session.Stderr = os.Stderr
	err = session.Run(command)
	var exit *ssh.ExitError
	if errors.As(err, &exit) {
		os.Exit(exit.ExitStatus())
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(255)
}
