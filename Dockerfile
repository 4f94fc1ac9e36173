# syntax=docker/dockerfile:1
#
# metrics-apiserver image: a static binary on distroless "static:nonroot"
# (no shell, no package manager, uid/gid 65532), as the manifests and the
# chart expect (runAsNonRoot, read-only root filesystem, /tmp an emptyDir).
#
# Build (no container engine runs in this repository's CI, so CI does not
# build it):
#
#   make image                 # = the command below, IMAGE and VERSION from the Makefile
#   docker buildx build \
#     --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) \
#     --platform linux/amd64,linux/arm64 \
#     -t ghcr.io/metrics-apiserver/metrics-apiserver:$(git describe --tags --always --dirty) .
#
# The build stage cross-compiles on the build platform (no emulation), with
# CGO off, -trimpath and the version stamped into pkg/version, exactly as
# `make build` does.

ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
# dependencies first: this layer is reused until go.mod or go.sum change
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY cmd/ cmd/
COPY pkg/ pkg/
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=v0.0.0-dev
ARG COMMIT=unknown
ARG BUILD_DATE=1970-01-01T00:00:00Z
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath \
      -ldflags "-s -w \
        -X github.com/metrics-apiserver/metrics-apiserver/pkg/version.gitVersion=${VERSION} \
        -X github.com/metrics-apiserver/metrics-apiserver/pkg/version.gitCommit=${COMMIT} \
        -X github.com/metrics-apiserver/metrics-apiserver/pkg/version.buildDate=${BUILD_DATE}" \
      -o /out/metrics-apiserver ./cmd/metrics-apiserver

FROM gcr.io/distroless/static:nonroot
ARG VERSION=v0.0.0-dev
LABEL org.opencontainers.image.title="metrics-apiserver" \
      org.opencontainers.image.description="Kubernetes resource Metrics API (metrics.k8s.io/v1beta1) server" \
      org.opencontainers.image.source="https://github.com/metrics-apiserver/metrics-apiserver" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/metrics-apiserver /metrics-apiserver
USER 65532:65532
ENTRYPOINT ["/metrics-apiserver"]
