# Build the manager binary: static (CGO off), -trimpath, version stamped; the same
# flags as `make build`.
#
# The builder runs on the build machine's platform and cross-compiles for the
# target's (TARGETOS/TARGETARCH, set by BuildKit from --platform): one native Go
# toolchain builds every image of make docker-buildx, with no emulation.
FROM --platform=$BUILDPLATFORM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev

WORKDIR /workspace
COPY go.mod go.sum ./
RUN go mod download

COPY main.go main.go
COPY api/ api/
COPY internal/ internal/

RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} go build -trimpath \
    -ldflags "-s -w -X github.com/voipbin/credential-operator/internal/version.Version=${VERSION}" \
    -o manager .

# distroless static, non-root: no shell, no package manager, nothing to exploit.
FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /workspace/manager .
USER 65532:65532

ENTRYPOINT ["/manager"]
