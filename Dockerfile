# syntax=docker/dockerfile:1
# One image per PACT function (DESIGN.md section 7): a static binary on
# `scratch`, run as a non-root numeric user, no shell, nothing written to the
# root filesystem (so `readOnlyRootFilesystem: true` just works).
#
# FUNCTION selects what goes in: producer | translation | contactlog | query |
# notify, or cli for the `pact` tool (the demo's ContainerSource runs
# `pact simulate`).
#
# From source (needs a registry for the Rust image and crates.io):
#   docker build --build-arg FUNCTION=translation -t pact-translation .
#   buildah bud --build-arg FUNCTION=translation -t pact-translation .
# From a prebuilt static binary, with no registry at all: put the binary in a
# folder under the FUNCTION name and use that folder as the build context
# (scripts/images.sh does this for all six):
#   buildah bud --target prebuilt --build-arg FUNCTION=translation -t pact-translation -f Dockerfile dist/

ARG RUST_VERSION=1.95
ARG CARGO_CHEF_VERSION=0.1.78

# --- dependencies, cached apart from the sources (cargo-chef) ---------------
FROM docker.io/library/rust:${RUST_VERSION}-slim-bookworm AS chef
ARG CARGO_CHEF_VERSION
RUN cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}"
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
# Static glibc (static-pie): runs on scratch without a libc in the image.
# The same RUSTFLAGS for cook and build, or cargo rebuilds every dependency.
ENV RUSTFLAGS="-C target-feature=+crt-static"
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --target "$(uname -m)-unknown-linux-gnu" --recipe-path recipe.json
COPY . .
ARG FUNCTION
RUN case "${FUNCTION}" in \
      producer|translation|contactlog|query|notify) package="pact-${FUNCTION}" ;; \
      cli) package=pact ;; \
      *) echo "FUNCTION must be producer, translation, contactlog, query, notify or cli (got '${FUNCTION}')" >&2; exit 1 ;; \
    esac \
 && target="$(uname -m)-unknown-linux-gnu" \
 && cargo build --release --locked --target "${target}" -p "${package}" --bin "${package}" \
 && mkdir /out && cp "target/${target}/release/${package}" /out/function

# --- the image ---------------------------------------------------------------
FROM scratch AS base
ARG FUNCTION
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="pact-${FUNCTION}" \
      org.opencontainers.image.description="PACT ${FUNCTION}: event-driven contact tracing on Knative" \
      org.opencontainers.image.source="https://github.com/pact-contact-tracing/pact" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# 65532: the "nonroot" user of distroless images; numeric, so Kubernetes can
# check runAsNonRoot without an /etc/passwd. OpenShift replaces it with a UID
# of the namespace's range, which works the same (the binary reads no $HOME).
USER 65532:65532
# Knative sets PORT (8080); the runtime defaults to it too.
ENV PACT_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["/function"]

FROM base AS prebuilt
ARG FUNCTION
COPY ${FUNCTION} /function

# Last, so it is the default target.
FROM base AS image
COPY --from=build /out/function /function
