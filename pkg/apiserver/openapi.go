package apiserver

import (
	openapinamer "k8s.io/apiserver/pkg/endpoints/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"

	generatedopenapi "github.com/metrics-apiserver/metrics-apiserver/pkg/apiserver/generated/openapi"
)

// SetOpenAPI makes the server publish OpenAPI v2 and v3 documents for
// metrics.k8s.io, titled with this build's version.
func SetOpenAPI(c *genericapiserver.Config, version string) {
	namer := openapinamer.NewDefinitionNamer(Scheme)
	c.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(generatedopenapi.GetOpenAPIDefinitions, namer)
	c.OpenAPIConfig.Info.Title, c.OpenAPIConfig.Info.Version = "metrics-apiserver", version
	c.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(generatedopenapi.GetOpenAPIDefinitions, namer)
	c.OpenAPIV3Config.Info.Title, c.OpenAPIV3Config.Info.Version = "metrics-apiserver", version
}
