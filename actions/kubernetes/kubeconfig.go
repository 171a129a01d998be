package kubernetes

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v3"
)

// kubeconfigFile is the part of a kubeconfig file this action reads.
type kubeconfigFile struct {
	CurrentContext string `yaml:"current-context"`
	Contexts       []struct {
		Name    string `yaml:"name"`
		Context struct {
			Cluster string `yaml:"cluster"`
			User    string `yaml:"user"`
		} `yaml:"context"`
	} `yaml:"contexts"`
	Clusters []struct {
		Name    string `yaml:"name"`
		Cluster struct {
			Server                   string `yaml:"server"`
			CertificateAuthority     string `yaml:"certificate-authority"`
			CertificateAuthorityData string `yaml:"certificate-authority-data"`
			InsecureSkipTLSVerify    bool   `yaml:"insecure-skip-tls-verify"`
		} `yaml:"cluster"`
	} `yaml:"clusters"`
	Users []struct {
		Name string `yaml:"name"`
		User struct {
			Token                 string `yaml:"token"`
			TokenFile             string `yaml:"tokenFile"`
			ClientCertificate     string `yaml:"client-certificate"`
			ClientCertificateData string `yaml:"client-certificate-data"`
			Exec                  any    `yaml:"exec"`
			AuthProvider          any    `yaml:"auth-provider"`
		} `yaml:"user"`
	} `yaml:"users"`
}

// kubeconfig is what a context of a kubeconfig gives: a server, its CA
// and a bearer token.
type kubeconfig struct {
	server, caFile, token, tokenFile string
	caData                           []byte
	insecure                         bool
}

// readKubeconfig reads the named context (or the current one) of a
// kubeconfig file. Paths in it are relative to the file. Errors never
// carry the token.
func readKubeconfig(path, context string) (*kubeconfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f kubeconfigFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: not a kubeconfig: %v", path, firstLine(err.Error()))
	}
	if context == "" {
		context = f.CurrentContext
	}
	if context == "" {
		return nil, fmt.Errorf("%s: no context given and no current-context", path)
	}
	var cluster, user string
	found := false
	for _, c := range f.Contexts {
		if c.Name == context {
			cluster, user, found = c.Context.Cluster, c.Context.User, true
		}
	}
	if !found {
		return nil, fmt.Errorf("%s: no context %q", path, context)
	}
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(filepath.Dir(path), p)
	}
	kc := &kubeconfig{}
	found = false
	for _, c := range f.Clusters {
		if c.Name == cluster {
			found = true
			kc.server, kc.caFile, kc.insecure = c.Cluster.Server, rel(c.Cluster.CertificateAuthority), c.Cluster.InsecureSkipTLSVerify
			if d := c.Cluster.CertificateAuthorityData; d != "" {
				if kc.caData, err = base64.StdEncoding.DecodeString(d); err != nil {
					return nil, fmt.Errorf("%s: cluster %q: certificate-authority-data is not base64", path, cluster)
				}
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("%s: context %q names cluster %q, which is not there", path, context, cluster)
	}
	found = false
	for _, u := range f.Users {
		if u.Name != user {
			continue
		}
		found = true
		kc.token, kc.tokenFile = u.User.Token, rel(u.User.TokenFile)
		if kc.token == "" && kc.tokenFile == "" {
			how := "no token"
			if u.User.ClientCertificate != "" || u.User.ClientCertificateData != "" || u.User.Exec != nil || u.User.AuthProvider != nil {
				how = "client certificates, exec plugins and auth providers are not supported"
			}
			return nil, fmt.Errorf("%s: user %q: %s; give it a token or tokenFile", path, user, how)
		}
	}
	if !found {
		return nil, fmt.Errorf("%s: context %q names user %q, which is not there", path, context, user)
	}
	if kc.server == "" {
		return nil, errors.New(path + ": cluster " + cluster + " has no server")
	}
	return kc, nil
}

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}
