# syntax=docker/dockerfile:1

# Build:
#   docker build \
#     --build-arg VERSION=v0.1.0 \
#     --build-arg GIT_COMMIT="$(git rev-parse HEAD)" \
#     -t ghcr.io/munnerz/keepalived-cloud-provider:v0.1.0 .
#
# Multi-arch: docker buildx build --platform linux/amd64,linux/arm64 ...
# (the builder runs natively on the build host and cross-compiles; CGO is off).

FROM --platform=$BUILDPLATFORM golang:1.26.8-bookworm AS builder

WORKDIR /src

# Module downloads get their own layer: it is rebuilt only when go.mod/go.sum change.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

COPY . .

ARG TARGETOS
ARG TARGETARCH
ARG VERSION=v0.0.0-dev
ARG GIT_COMMIT=unknown

RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath \
      -ldflags "-s -w \
        -X k8s.io/component-base/version.gitVersion=${VERSION} \
        -X k8s.io/component-base/version.gitCommit=${GIT_COMMIT}" \
      -o /out/keepalived-cloud-provider \
      ./cmd/keepalived-cloud-provider

# distroless/static: no shell, no package manager, CA certificates and tzdata only.
FROM gcr.io/distroless/static-debian12:nonroot

ARG VERSION=v0.0.0-dev
ARG GIT_COMMIT=unknown

LABEL org.opencontainers.image.title="keepalived-cloud-provider" \
      org.opencontainers.image.description="Kubernetes cloud-controller-manager that allocates IPv4 addresses for type LoadBalancer Services and publishes them to kube-keepalived-vip" \
      org.opencontainers.image.source="https://github.com/munnerz/keepalived-cloud-provider" \
      org.opencontainers.image.url="https://github.com/munnerz/keepalived-cloud-provider" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_COMMIT}"

COPY --from=builder /out/keepalived-cloud-provider /keepalived-cloud-provider

# 65532 is the "nonroot" user of the distroless image; numeric so that
# Kubernetes' runAsNonRoot check can verify it.
USER 65532:65532

ENTRYPOINT ["/keepalived-cloud-provider"]
